package qdq

import (
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// Plan says how Export quantizes a model.
type Plan struct {
	// Nodes has one entry for every Conv, Gemm and MatMul node of the model (default
	// domain), by node name: quantize it, or skip it. Entries that name other nodes, and
	// quantizable nodes without an entry, are errors, so a typo never silently does nothing.
	Nodes map[string]NodePlan
	// Activations holds the qparams of activation tensors by name: per tensor (one scale,
	// one zero point), quant.QUInt8 or quant.QInt8. Every float input of a quantized node
	// other than its weight and bias needs one; extra entries are ignored.
	Activations map[string]*quant.QParams
	// Record is the JSON quantization record, stored as metadata_props["quantization"]
	// when not empty.
	Record string
	// Metadata adds or replaces other metadata_props entries.
	Metadata map[string]string
	// Dir is the folder the model's external data is read from (onnx.File.Dir), needed
	// when a weight to quantize is stored externally and Codes are not given.
	Dir string
}

// NodePlan is the plan for one Conv, Gemm or MatMul node.
type NodePlan struct {
	// Skip leaves the node, its weight and its bias in float.
	Skip bool
	// Weight holds the qparams of the node's weight (input 1) when it is an initializer:
	// per tensor (Axis -1, one scale) or per channel along the output axis (WeightAxis),
	// quant.QInt8 or quant.QUInt8. Must be nil when input 1 is an activation (a MatMul of
	// two activations); then Activations needs an entry for it.
	Weight *quant.QParams
	// Codes, when not nil, are the already quantized weight (I8 for QInt8, U8 for QUInt8,
	// the weight's shape). When nil, Export quantizes the float weight with Weight the way
	// QuantizeLinear does: saturate(round_half_even(w / scale) + zero_point).
	Codes *tensor.Tensor
}

// codeType returns the ONNX data type of 8-bit codes and checks the zero point range.
func codeType(q quant.QType) (int32, tensor.DType, error) {
	switch {
	case q.Bits == 8 && q.Signed:
		return int32(onnxpb.TensorProto_INT8), tensor.I8, nil
	case q.Bits == 8 && !q.Signed:
		return int32(onnxpb.TensorProto_UINT8), tensor.U8, nil
	}
	return 0, tensor.Invalid, fmt.Errorf("%s codes are not supported (QDQ export writes 8-bit codes at opset 13)", q.Name)
}

// checkParams validates scales and zero points against the code type.
func checkParams(p *quant.QParams, channels int) error {
	if p.GroupSize > 0 {
		return fmt.Errorf("group-wise qparams cannot be expressed by opset-13 DequantizeLinear")
	}
	if p.Axis < 0 && len(p.Scale) != 1 {
		return fmt.Errorf("per-tensor qparams need one scale, have %d", len(p.Scale))
	}
	if p.Axis >= 0 && len(p.Scale) != channels {
		return fmt.Errorf("per-channel qparams along axis %d need %d scales, have %d", p.Axis, channels, len(p.Scale))
	}
	if p.ZeroPoint != nil && len(p.ZeroPoint) != len(p.Scale) {
		return fmt.Errorf("%d zero points for %d scales", len(p.ZeroPoint), len(p.Scale))
	}
	q := p.Scheme.QType
	for i, s := range p.Scale {
		if !(s > 0) || s > 3.4e38 {
			return fmt.Errorf("scale[%d] = %v must be positive and finite", i, s)
		}
		if z := zeroPoint(p, i); z < q.Min || z > q.Max {
			return fmt.Errorf("zero point[%d] = %d is outside %s's range %d..%d", i, z, q.Name, q.Min, q.Max)
		}
	}
	return nil
}

func zeroPoint(p *quant.QParams, i int) int32 {
	if p.ZeroPoint == nil {
		return 0
	}
	return p.ZeroPoint[i]
}

func sameParams(a, b *quant.QParams) bool {
	if a.Axis != b.Axis || a.Scheme.QType != b.Scheme.QType || len(a.Scale) != len(b.Scale) {
		return false
	}
	for i := range a.Scale {
		if a.Scale[i] != b.Scale[i] || zeroPoint(a, i) != zeroPoint(b, i) {
			return false
		}
	}
	return true
}
