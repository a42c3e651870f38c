package graph

import (
	"errors"
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// TensorProto decoding and the dtype mapping live in formats/onnx; this file adapts them to
// what the executor computes in.

// ExternalDataResolver returns the raw little-endian bytes of an initializer whose data lives
// outside the model file (data_location = EXTERNAL). Load fails on external data when
// Options.External is nil.
type ExternalDataResolver func(tp *onnxpb.TensorProto) ([]byte, error)

// ExternalIn resolves external data locations relative to dir, the folder of the model file
// (onnx.TensorFromProto opens each location confined to it).
func ExternalIn(dir string) ExternalDataResolver {
	return func(tp *onnxpb.TensorProto) ([]byte, error) {
		t, err := onnx.TensorFromProto(tp, dir)
		if err != nil {
			return nil, err
		}
		return t.Contiguous().Data, nil
	}
}

// computeDType maps an ONNX TensorProto.DataType to a tensor dtype the executor computes in.
// It reports false for types it cannot (string, uint16/32/64, complex, float8).
func computeDType(dt int32) (tensor.DType, bool) {
	t, ok := onnx.DTypeOf(dt)
	if !ok || t == tensor.F8E4M3 || t == tensor.F8E5M2 {
		return tensor.Invalid, false
	}
	return t, true
}

// tensorFromProto converts a TensorProto into a contiguous tensor through onnx.TensorFromProtoVia,
// reading external data through resolve. Raw data is shared with tp. Data types the executor
// does not compute in are reported as ErrUnsupported.
func tensorFromProto(tp *onnxpb.TensorProto, resolve ExternalDataResolver) (*tensor.Tensor, error) {
	if tp == nil {
		return nil, errors.New("graph: nil tensor")
	}
	if _, ok := computeDType(tp.GetDataType()); !ok {
		return nil, fmt.Errorf("%w: tensor %q: data type %s", ErrUnsupported, tp.GetName(), onnx.DataTypeName(tp.GetDataType()))
	}
	t, err := onnx.TensorFromProtoVia(tp, onnx.ExternalData(resolve))
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return t, nil
}
