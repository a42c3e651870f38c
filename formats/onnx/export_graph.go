package onnx

import (
	"errors"
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// This file exports the pieces of TensorProto decoding that the graph executor shares, so
// that it does not keep a second decoder.

// DTypeOf maps an ONNX TensorProto.DataType to a tensor dtype; ok is false for types qscript
// does not hold in a Tensor (strings, unsigned 16/32/64-bit, complex, the fnuz float8 types).
func DTypeOf(dataType int32) (dt tensor.DType, ok bool) { return dtypeOf(dataType) }

// DataTypeName names an ONNX data type for messages ("FLOAT16", "data type 99").
func DataTypeName(dataType int32) string { return dataTypeName(dataType) }

// ExternalData returns the bytes of a TensorProto whose data_location is EXTERNAL.
type ExternalData func(tp *onnxpb.TensorProto) ([]byte, error)

// ErrNoExternalData is returned by TensorFromProtoVia for an external tensor when no
// ExternalData function was given.
var ErrNoExternalData = errors.New("external data but no way to read it")

// TensorFromProtoVia is TensorFromProto with external data supplied by ext instead of read
// from a folder; the bytes ext returns must be exactly numel × element size. Raw data is
// shared with tp, not copied.
func TensorFromProtoVia(tp *onnxpb.TensorProto, ext ExternalData) (*tensor.Tensor, error) {
	t, err := tensorFromProtoVia(tp, ext)
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

func tensorFromProtoVia(tp *onnxpb.TensorProto, ext ExternalData) (*tensor.Tensor, error) {
	if tp == nil {
		return nil, errors.New("nil TensorProto")
	}
	lay, err := inspectTensor(tp)
	if err != nil {
		return nil, err
	}
	if lay.ext == nil {
		return readTensor(tp, lay, nil)
	}
	if ext == nil {
		return nil, ErrNoExternalData
	}
	raw, err := ext(tp)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != lay.nbytes {
		return nil, fmt.Errorf("external data has %d bytes, want %d (%v %v)", len(raw), lay.nbytes, lay.dtype, lay.shape)
	}
	return tensor.FromBytes(lay.dtype, lay.shape, raw)
}
