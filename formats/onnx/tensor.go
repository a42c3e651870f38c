package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
	"google.golang.org/protobuf/proto"
)

// tensorLayout is what validation learns about a TensorProto without reading its data.
type tensorLayout struct {
	dtype  tensor.DType
	shape  []int
	numel  int
	nbytes int64
	ext    *externalRef // nil unless data_location = EXTERNAL
}

// externalRef is a parsed external_data entry list.
type externalRef struct {
	location string
	offset   int64
	length   int64 // -1 when the entry is absent: the data runs to the end of the file
}

// inspectTensor validates everything about tp that does not need an external file:
// the data type, dims, element count, and which data field holds the elements and its length.
func inspectTensor(tp *onnxpb.TensorProto) (tensorLayout, error) {
	var lay tensorLayout
	dt, ok := dtypeOf(tp.GetDataType())
	if !ok {
		return lay, fmt.Errorf("unsupported data type %s", dataTypeName(tp.GetDataType()))
	}
	if tp.Segment != nil {
		return lay, errors.New("segmented tensors are not supported")
	}
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		if d < 0 {
			return lay, fmt.Errorf("dims %v: dimension %d is negative", tp.Dims, i)
		}
		if uint64(d) > math.MaxInt {
			return lay, fmt.Errorf("dims %v: dimension %d is too large", tp.Dims, i)
		}
		shape[i] = int(d)
	}
	numel, err := tensor.Numel(shape)
	if err != nil {
		return lay, fmt.Errorf("dims %v: element count overflows", tp.Dims)
	}
	hi, nbytes := bits.Mul64(uint64(numel), uint64(dt.Size()))
	if hi != 0 || nbytes > math.MaxInt64 {
		return lay, fmt.Errorf("dims %v: byte size overflows", tp.Dims)
	}
	lay = tensorLayout{dtype: dt, shape: shape, numel: numel, nbytes: int64(nbytes)}

	fields := dataFields(tp)
	if len(fields) > 1 {
		return lay, fmt.Errorf("data in more than one field (%s and %s)", fields[0], fields[1])
	}
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		if len(fields) > 0 {
			return lay, fmt.Errorf("data_location is EXTERNAL but %s is set too", fields[0])
		}
		ref, err := parseExternalRef(tp.ExternalData)
		if err != nil {
			return lay, err
		}
		if ref.length >= 0 && ref.length != lay.nbytes {
			return lay, fmt.Errorf("external data length is %d bytes, want %d (%v %v)", ref.length, lay.nbytes, dt, shape)
		}
		lay.ext = &ref
		return lay, nil
	}
	if len(tp.ExternalData) > 0 {
		return lay, errors.New("external_data entries present but data_location is not EXTERNAL")
	}
	if len(fields) == 0 {
		if numel == 0 {
			return lay, nil
		}
		return lay, fmt.Errorf("no data for %v %v", dt, shape)
	}
	field, want := fields[0], typedField(dt)
	if field == "raw_data" {
		if int64(len(tp.RawData)) != lay.nbytes {
			return lay, fmt.Errorf("raw_data is %d bytes, want %d (%v %v)", len(tp.RawData), lay.nbytes, dt, shape)
		}
		return lay, nil
	}
	if field != want {
		return lay, fmt.Errorf("%s holds the data of a %s tensor; ONNX puts it in %s", field, dataTypeName(tp.GetDataType()), want)
	}
	if n := typedLen(tp, field); n != numel {
		return lay, fmt.Errorf("%s has %d elements, want %d (%v %v)", field, n, numel, dt, shape)
	}
	return lay, nil
}

// dataFields lists the non-empty data fields of tp in proto field order.
func dataFields(tp *onnxpb.TensorProto) []string {
	var f []string
	for _, c := range []struct {
		name string
		set  bool
	}{
		{"float_data", len(tp.FloatData) > 0}, {"int32_data", len(tp.Int32Data) > 0},
		{"string_data", len(tp.StringData) > 0}, {"int64_data", len(tp.Int64Data) > 0},
		{"raw_data", tp.RawData != nil}, {"double_data", len(tp.DoubleData) > 0},
		{"uint64_data", len(tp.Uint64Data) > 0},
	} {
		if c.set {
			f = append(f, c.name)
		}
	}
	return f
}

// typedField is the TensorProto field that holds a dtype's elements when raw_data is not used.
func typedField(dt tensor.DType) string {
	switch dt {
	case tensor.F32:
		return "float_data"
	case tensor.I64:
		return "int64_data"
	case tensor.F64:
		return "double_data"
	}
	return "int32_data" // int32, int16, int8, uint8, bool, float16, bfloat16, float8: one element per int32
}

func typedLen(tp *onnxpb.TensorProto, field string) int {
	switch field {
	case "float_data":
		return len(tp.FloatData)
	case "int32_data":
		return len(tp.Int32Data)
	case "int64_data":
		return len(tp.Int64Data)
	case "double_data":
		return len(tp.DoubleData)
	}
	return -1
}

// parseExternalRef reads the location/offset/length entries. Unknown keys (checksum and
// future ones) are ignored as ONNX Runtime does; repeated keys are an error.
func parseExternalRef(entries []*onnxpb.StringStringEntryProto) (externalRef, error) {
	ref := externalRef{length: -1}
	seen := map[string]bool{}
	for _, e := range entries {
		k, v := e.GetKey(), e.GetValue()
		if seen[k] {
			return ref, fmt.Errorf("external_data key %q repeated", k)
		}
		seen[k] = true
		switch k {
		case "location":
			ref.location = v
		case "offset", "length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return ref, fmt.Errorf("external_data %s %q is not a non-negative integer", k, v)
			}
			if k == "offset" {
				ref.offset = n
			} else {
				ref.length = n
			}
		}
	}
	if !seen["location"] {
		return ref, errors.New("external data without a location")
	}
	if err := checkLocation(ref.location); err != nil {
		return ref, err
	}
	return ref, nil
}

// section returns the byte range of ref inside a data file of size fileSize.
func (ref *externalRef) section(nbytes, fileSize int64) (int64, error) {
	if ref.offset > fileSize {
		return 0, fmt.Errorf("external data offset %d is past the end of %s (%d bytes)", ref.offset, ref.location, fileSize)
	}
	if fileSize-ref.offset < nbytes {
		return 0, fmt.Errorf("external data %s[%d:%d] runs past the end of the file (%d bytes)", ref.location, ref.offset, ref.offset+nbytes, fileSize)
	}
	if ref.length < 0 && fileSize-ref.offset != nbytes {
		return 0, fmt.Errorf("external data %s from offset %d has %d bytes, want %d", ref.location, ref.offset, fileSize-ref.offset, nbytes)
	}
	return ref.offset, nil
}

// readTensor builds the tensor of tp after inspectTensor accepted it. ext reads external
// data; it is only called for EXTERNAL tensors.
func readTensor(tp *onnxpb.TensorProto, lay tensorLayout, ext io.ReaderAt) (*tensor.Tensor, error) {
	if lay.ext != nil {
		buf := make([]byte, lay.nbytes) // bounded: section() checked it against the file size
		if _, err := ext.ReadAt(buf, lay.ext.offset); err != nil && !(errors.Is(err, io.EOF) && lay.nbytes == 0) {
			return nil, fmt.Errorf("reading external data %s: %w", lay.ext.location, err)
		}
		return tensor.FromBytes(lay.dtype, lay.shape, buf)
	}
	if tp.RawData != nil || lay.numel == 0 {
		data := tp.RawData
		if data == nil {
			data = []byte{}
		}
		return tensor.FromBytes(lay.dtype, lay.shape, data)
	}
	buf, err := typedBytes(tp, lay)
	if err != nil {
		return nil, err
	}
	return tensor.FromBytes(lay.dtype, lay.shape, buf)
}

// typedBytes converts the typed data field of tp to little-endian element bytes.
func typedBytes(tp *onnxpb.TensorProto, lay tensorLayout) ([]byte, error) {
	size := lay.dtype.Size()
	buf := make([]byte, lay.nbytes) // bounded: the typed field already holds numel decoded elements
	switch lay.dtype {
	case tensor.F32:
		for i, v := range tp.FloatData {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
	case tensor.F64:
		for i, v := range tp.DoubleData {
			binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
		}
	case tensor.I64:
		for i, v := range tp.Int64Data {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(v))
		}
	default:
		lo, hi := int32Range(lay.dtype)
		for i, v := range tp.Int32Data {
			if int64(v) < lo || int64(v) > hi {
				return nil, fmt.Errorf("int32_data[%d] = %d is out of range for %s", i, v, dataTypeName(tp.GetDataType()))
			}
			switch size {
			case 1:
				buf[i] = byte(v)
			case 2:
				binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
			case 4:
				binary.LittleEndian.PutUint32(buf[4*i:], uint32(v))
			}
		}
	}
	return buf, nil
}

// int32Range is the range of values int32_data may hold for dt: the element's own range,
// or its bit pattern for 16-bit and 8-bit floats.
func int32Range(dt tensor.DType) (int64, int64) {
	switch dt {
	case tensor.I8:
		return math.MinInt8, math.MaxInt8
	case tensor.U8, tensor.F8E4M3, tensor.F8E5M2:
		return 0, math.MaxUint8
	case tensor.I16:
		return math.MinInt16, math.MaxInt16
	case tensor.F16, tensor.BF16:
		return 0, math.MaxUint16
	case tensor.Bool:
		return 0, 1
	}
	return math.MinInt32, math.MaxInt32
}

// TensorFromProto decodes one TensorProto (an initializer, or a Constant's value).
// External data is read from dir, the folder of the model file; the location must stay
// inside dir. Raw data is shared with tp, not copied.
func TensorFromProto(tp *onnxpb.TensorProto, dir string) (*tensor.Tensor, error) {
	t, err := tensorFromProto(tp, dir)
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

func tensorFromProto(tp *onnxpb.TensorProto, dir string) (*tensor.Tensor, error) {
	lay, err := inspectTensor(tp)
	if err != nil {
		return nil, err
	}
	if lay.ext == nil {
		return readTensor(tp, lay, nil)
	}
	f, size, err := openExternal(dir, lay.ext.location)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := lay.ext.section(lay.nbytes, size); err != nil {
		return nil, err
	}
	return readTensor(tp, lay, f)
}

// TensorToProto encodes t as a TensorProto with little-endian raw_data. The proto shares
// t's data when t is contiguous.
func TensorToProto(name string, t *tensor.Tensor) (*onnxpb.TensorProto, error) {
	dataType, err := DataType(t.DType)
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", name, err)
	}
	if _, err := tensor.Numel(t.Shape); err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", name, err)
	}
	c := t.Contiguous()
	if len(c.Data) != c.Nbytes() {
		return nil, fmt.Errorf("onnx: tensor %q: %v %v needs %d bytes, has %d", name, t.DType, t.Shape, c.Nbytes(), len(c.Data))
	}
	dims := make([]int64, len(c.Shape))
	for i, d := range c.Shape {
		dims[i] = int64(d)
	}
	raw := c.Data
	if raw == nil {
		raw = []byte{}
	}
	return &onnxpb.TensorProto{
		Name:     proto.String(name),
		Dims:     dims,
		DataType: proto.Int32(dataType),
		RawData:  raw,
	}, nil
}

// openExternal opens an external data file inside dir. os.OpenInRoot also refuses
// symlinks that lead out of dir.
func openExternal(dir, location string) (*os.File, int64, error) {
	if dir == "" {
		return nil, 0, fmt.Errorf("external data %s: the model's folder is unknown", location)
	}
	f, err := os.OpenInRoot(dir, location)
	if err != nil {
		return nil, 0, fmt.Errorf("external data: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("external data: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("external data %s is not a regular file", location)
	}
	return f, st.Size(), nil
}
