package onnx

import (
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// ONNX TensorProto.DataType values added after onnx 1.12, whose enum onnxpb was generated
// from. The wire value is a plain int32, so they can still be read and written.
const (
	dataTypeFloat8E4M3FN = 17
	dataTypeFloat8E5M2   = 19
)

// dtypeOf maps an ONNX data type to a tensor dtype. ok is false for types qscript does not
// hold in a Tensor (strings, unsigned 16/32/64-bit, complex, the fnuz float8 variants).
func dtypeOf(dataType int32) (tensor.DType, bool) {
	switch dataType {
	case int32(onnxpb.TensorProto_FLOAT):
		return tensor.F32, true
	case int32(onnxpb.TensorProto_UINT8):
		return tensor.U8, true
	case int32(onnxpb.TensorProto_INT8):
		return tensor.I8, true
	case int32(onnxpb.TensorProto_INT16):
		return tensor.I16, true
	case int32(onnxpb.TensorProto_INT32):
		return tensor.I32, true
	case int32(onnxpb.TensorProto_INT64):
		return tensor.I64, true
	case int32(onnxpb.TensorProto_BOOL):
		return tensor.Bool, true
	case int32(onnxpb.TensorProto_FLOAT16):
		return tensor.F16, true
	case int32(onnxpb.TensorProto_DOUBLE):
		return tensor.F64, true
	case int32(onnxpb.TensorProto_BFLOAT16):
		return tensor.BF16, true
	case dataTypeFloat8E4M3FN:
		return tensor.F8E4M3, true
	case dataTypeFloat8E5M2:
		return tensor.F8E5M2, true
	}
	return tensor.Invalid, false
}

// DataType returns the ONNX TensorProto.DataType of a tensor dtype.
func DataType(dt tensor.DType) (int32, error) {
	switch dt {
	case tensor.F32:
		return int32(onnxpb.TensorProto_FLOAT), nil
	case tensor.U8:
		return int32(onnxpb.TensorProto_UINT8), nil
	case tensor.I8:
		return int32(onnxpb.TensorProto_INT8), nil
	case tensor.I16:
		return int32(onnxpb.TensorProto_INT16), nil
	case tensor.I32:
		return int32(onnxpb.TensorProto_INT32), nil
	case tensor.I64:
		return int32(onnxpb.TensorProto_INT64), nil
	case tensor.Bool:
		return int32(onnxpb.TensorProto_BOOL), nil
	case tensor.F16:
		return int32(onnxpb.TensorProto_FLOAT16), nil
	case tensor.F64:
		return int32(onnxpb.TensorProto_DOUBLE), nil
	case tensor.BF16:
		return int32(onnxpb.TensorProto_BFLOAT16), nil
	case tensor.F8E4M3:
		return dataTypeFloat8E4M3FN, nil
	case tensor.F8E5M2:
		return dataTypeFloat8E5M2, nil
	}
	return 0, fmt.Errorf("onnx: dtype %v has no ONNX data type", dt)
}

// dataTypeName names an ONNX data type for error messages.
func dataTypeName(dataType int32) string {
	switch dataType {
	case dataTypeFloat8E4M3FN:
		return "FLOAT8E4M3FN"
	case 18:
		return "FLOAT8E4M3FNUZ"
	case dataTypeFloat8E5M2:
		return "FLOAT8E5M2"
	case 20:
		return "FLOAT8E5M2FNUZ"
	}
	if name, ok := onnxpb.TensorProto_DataType_name[dataType]; ok {
		return name
	}
	return fmt.Sprintf("data type %d", dataType)
}

// knownDataType reports whether dataType is a valid ONNX data type (onnx 1.12's enum plus
// the float8 and 4-bit types added later), whether or not qscript can hold it.
func knownDataType(dataType int32) bool {
	if dataType >= dataTypeFloat8E4M3FN && dataType <= 22 { // float8 types, UINT4, INT4
		return true
	}
	_, ok := onnxpb.TensorProto_DataType_name[dataType]
	return ok && dataType != int32(onnxpb.TensorProto_UNDEFINED)
}
