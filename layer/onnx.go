package layer

import (
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// Quantizable reports whether a node of this domain and op type is one qscript quantizes
// in an ONNX graph: Conv, Gemm and MatMul of the default domain. Weight-only layers,
// static quantization, calibration's targets and the QDQ exporter all use this rule.
func Quantizable(domain, opType string) bool {
	if domain != "" && domain != "ai.onnx" {
		return false
	}
	switch opType {
	case TypeConv, TypeGemm, TypeMatMul:
		return true
	}
	return false
}

// WeightAxis returns the output-channel axis of a quantizable node's weight: 0 for Conv,
// 0 for Gemm with transB=1 and 1 with transB=0, and the last axis for MatMul (1 for a
// [in, out] matrix). Per-channel weight qparams must use it.
func WeightAxis(node *onnxpb.NodeProto, weightRank int) (int, error) {
	switch node.GetOpType() {
	case TypeConv:
		return 0, nil
	case TypeGemm:
		for _, a := range node.GetAttribute() {
			if a.GetName() == "transB" && a.GetI() != 0 {
				return 0, nil
			} else if a.GetName() == "transB" {
				break // the first transB decides
			}
		}
		return 1, nil
	case TypeMatMul:
		if weightRank < 2 {
			return 0, fmt.Errorf("qdq: MatMul %q: a %d-D weight has no output axis", node.GetName(), weightRank)
		}
		return weightRank - 1, nil
	}
	return 0, fmt.Errorf("qdq: node %q: %s is not a quantizable op (Conv, Gemm, MatMul)", node.GetName(), node.GetOpType())
}
