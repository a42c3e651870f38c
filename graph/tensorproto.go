package graph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// ExternalDataResolver returns the raw little-endian bytes of an initializer whose data lives
// outside the model file (data_location = EXTERNAL). formats/onnx supplies one that reads the
// side files; Load fails on external data when Options.External is nil.
type ExternalDataResolver func(tp *onnxpb.TensorProto) ([]byte, error)

// DTypeFromONNX maps an ONNX TensorProto.DataType to a tensor dtype. It reports false for types
// the tensor package cannot hold (string, uint16/32/64, complex).
func DTypeFromONNX(dt int32) (tensor.DType, bool) {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT:
		return tensor.F32, true
	case onnxpb.TensorProto_DOUBLE:
		return tensor.F64, true
	case onnxpb.TensorProto_FLOAT16:
		return tensor.F16, true
	case onnxpb.TensorProto_BFLOAT16:
		return tensor.BF16, true
	case onnxpb.TensorProto_INT64:
		return tensor.I64, true
	case onnxpb.TensorProto_INT32:
		return tensor.I32, true
	case onnxpb.TensorProto_INT16:
		return tensor.I16, true
	case onnxpb.TensorProto_INT8:
		return tensor.I8, true
	case onnxpb.TensorProto_UINT8:
		return tensor.U8, true
	case onnxpb.TensorProto_BOOL:
		return tensor.Bool, true
	}
	return tensor.Invalid, false
}

// DTypeToONNX is the inverse of DTypeFromONNX (0, UNDEFINED, for fp8 types).
func DTypeToONNX(dt tensor.DType) int32 {
	switch dt {
	case tensor.F32:
		return int32(onnxpb.TensorProto_FLOAT)
	case tensor.F64:
		return int32(onnxpb.TensorProto_DOUBLE)
	case tensor.F16:
		return int32(onnxpb.TensorProto_FLOAT16)
	case tensor.BF16:
		return int32(onnxpb.TensorProto_BFLOAT16)
	case tensor.I64:
		return int32(onnxpb.TensorProto_INT64)
	case tensor.I32:
		return int32(onnxpb.TensorProto_INT32)
	case tensor.I16:
		return int32(onnxpb.TensorProto_INT16)
	case tensor.I8:
		return int32(onnxpb.TensorProto_INT8)
	case tensor.U8:
		return int32(onnxpb.TensorProto_UINT8)
	case tensor.Bool:
		return int32(onnxpb.TensorProto_BOOL)
	}
	return 0
}

func onnxTypeName(dt int32) string {
	if s, ok := onnxpb.TensorProto_DataType_name[dt]; ok {
		return s
	}
	return fmt.Sprintf("type %d", dt)
}

// maxTensorDims bounds the rank of any tensor read from a model.
const maxTensorDims = 32

// TensorFromProto converts a TensorProto into a contiguous tensor, reading raw_data or the typed
// fields (float_data, int32_data for the 8/16-bit and bool types, int64_data, double_data), or
// the external data through resolve. The element count is checked against the bytes present
// before anything is allocated.
func TensorFromProto(tp *onnxpb.TensorProto, resolve ExternalDataResolver) (*tensor.Tensor, error) {
	if tp == nil {
		return nil, errors.New("graph: nil tensor")
	}
	dt, ok := DTypeFromONNX(tp.GetDataType())
	if !ok {
		return nil, fmt.Errorf("%w: tensor %q: data type %s", ErrUnsupported, tp.GetName(), onnxTypeName(tp.GetDataType()))
	}
	if len(tp.GetDims()) > maxTensorDims {
		return nil, fmt.Errorf("graph: tensor %q: %d dims (max %d)", tp.GetName(), len(tp.GetDims()), maxTensorDims)
	}
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		if d < 0 || d > math.MaxInt32*64 {
			return nil, fmt.Errorf("graph: tensor %q: invalid dim %d", tp.GetName(), d)
		}
		shape[i] = int(d)
	}
	n, err := tensor.Numel(shape)
	if err != nil {
		return nil, fmt.Errorf("graph: tensor %q: %w", tp.GetName(), err)
	}
	if tp.Segment != nil {
		return nil, fmt.Errorf("graph: tensor %q: segmented tensors are not supported", tp.GetName())
	}
	size := dt.Size()
	raw := tp.GetRawData()
	external := tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
	if external {
		if resolve == nil {
			return nil, fmt.Errorf("graph: tensor %q: external data but no resolver (load the model through formats/onnx)", tp.GetName())
		}
		raw, err = resolve(tp)
		if err != nil {
			return nil, fmt.Errorf("graph: tensor %q: %w", tp.GetName(), err)
		}
	}
	if external || len(raw) > 0 || n == 0 {
		if hi, want := bits.Mul64(uint64(n), uint64(size)); hi != 0 || want != uint64(len(raw)) {
			return nil, fmt.Errorf("graph: tensor %q: %v %v needs %d elements of %d bytes, raw data has %d bytes", tp.GetName(), dt, shape, n, size, len(raw))
		}
		return tensor.FromBytes(dt, shape, append([]byte{}, raw...))
	}
	var have int
	switch dt {
	case tensor.F32:
		have = len(tp.GetFloatData())
	case tensor.F64:
		have = len(tp.GetDoubleData())
	case tensor.I64:
		have = len(tp.GetInt64Data())
	default:
		have = len(tp.GetInt32Data())
	}
	if have != n {
		return nil, fmt.Errorf("graph: tensor %q: %v %v has %d elements, typed data has %d", tp.GetName(), dt, shape, n, have)
	}
	out := tensor.New(dt, shape...)
	b := out.Data
	switch dt {
	case tensor.F32:
		v := tp.GetFloatData()
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case tensor.F64:
		v := tp.GetDoubleData()
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	case tensor.I64:
		v := tp.GetInt64Data()
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
	case tensor.I32, tensor.I16, tensor.F16, tensor.BF16, tensor.I8, tensor.U8, tensor.Bool:
		v := tp.GetInt32Data()
		for i, x := range v {
			switch size {
			case 4:
				binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
			case 2:
				binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
			case 1:
				b[i] = byte(x)
			}
		}
	default:
		return nil, fmt.Errorf("graph: tensor %q: no typed field for %v", tp.GetName(), dt)
	}
	return out, nil
}

// TensorToProto converts t into a TensorProto with raw_data (used by tests and tools).
func TensorToProto(name string, t *tensor.Tensor) *onnxpb.TensorProto {
	c := t.Contiguous()
	dims := make([]int64, len(c.Shape))
	for i, d := range c.Shape {
		dims[i] = int64(d)
	}
	dt := DTypeToONNX(c.DType)
	raw := append([]byte(nil), c.Data[:c.Nbytes()]...)
	return &onnxpb.TensorProto{Name: &name, Dims: dims, DataType: &dt, RawData: raw}
}
