package onnxquant

import (
	"slices"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// ONNX element types the propagation names.
const (
	typeUInt8 = int32(onnxpb.TensorProto_UINT8)
	typeInt32 = int32(onnxpb.TensorProto_INT32)
	typeInt64 = int32(onnxpb.TensorProto_INT64)
	typeBool  = int32(onnxpb.TensorProto_BOOL)
)

// boolOps output bool.
var boolOps = []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"}

// int64Ops output int64.
var int64Ops = []string{"Shape", "Size", "NonZero", "ArgMax", "ArgMin"}

// propagateTypes fills in the element type of every node output from the types known in
// types (inputs, initializers, declarations), op by op in node order: what
// onnx.shape_inference gives float16.py, for the models graph/ cannot load. The rules
// cover the ops whose output type is not their first input's; every other op outputs its
// first typed input's type.
func propagateTypes(nodes []*onnxpb.NodeProto, types map[string]int32) {
	for _, n := range nodes {
		ins := n.GetInput()
		first := int32(0)
		for _, s := range ins {
			if t := types[s]; s != "" && t != 0 {
				first = t
				break
			}
		}
		in := func(i int) int32 {
			if i < len(ins) {
				return types[ins[i]]
			}
			return 0
		}
		outs := make([]int32, len(n.GetOutput()))
		for i := range outs {
			outs[i] = first
		}
		op := n.GetOpType()
		switch {
		case n.GetDomain() != "" && n.GetDomain() != "ai.onnx":
			// contrib ops: their first input's type, as the default
		case op == "Cast":
			outs[0] = int32(onnx.AttrInt(n, "to", 0))
		case op == "Constant" || op == "ConstantOfShape":
			outs[0] = constantType(n)
		case slices.Contains(boolOps, op):
			outs[0] = typeBool
		case slices.Contains(int64Ops, op):
			outs[0] = typeInt64
		case op == "TopK" && len(outs) == 2:
			outs[1] = typeInt64
		case op == "MaxPool" && len(outs) == 2:
			outs[1] = typeInt64
		case op == "QuantizeLinear":
			outs[0] = typeUInt8
			if t := in(2); t != 0 {
				outs[0] = t
			}
		case op == "DequantizeLinear":
			outs[0] = in(1)
		case op == "DynamicQuantizeLinear":
			copy(outs, []int32{typeUInt8, typeFloat, typeUInt8})
		case op == "MatMulInteger" || op == "ConvInteger":
			outs[0] = typeInt32
		case op == "Where":
			outs[0] = in(1)
		case op == "EyeLike" || op == "RandomNormalLike" || op == "RandomUniformLike" || op == "RandomNormal" || op == "RandomUniform":
			def := first
			if op == "RandomNormal" || op == "RandomUniform" {
				def = typeFloat
			}
			outs[0] = int32(onnx.AttrInt(n, "dtype", int64(def)))
		}
		for i, s := range n.GetOutput() {
			if s != "" && types[s] == 0 && outs[i] != 0 {
				types[s] = outs[i]
			}
		}
	}
}

// constantType is the element type of a Constant's or ConstantOfShape's value.
func constantType(n *onnxpb.NodeProto) int32 {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			return a.GetT().GetDataType()
		case "value_float", "value_floats":
			return typeFloat
		case "value_int", "value_ints":
			return typeInt64
		}
	}
	if n.GetOpType() == "ConstantOfShape" {
		return typeFloat
	}
	return 0
}
