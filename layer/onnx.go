package layer

import (
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx"
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
		if onnx.AttrInt(node, "transB", 0) != 0 {
			return 0, nil
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

// Nodes lists the quantizable nodes of f in model order, as static quantization sees them, those of subgraphs (If
// branches, Loop bodies) right after the node holding them (onnx.Nodes). A subgraph node's
// weight may be an initializer of the main graph, which it reads by name.
func Nodes(f *onnx.File) []Layer {
	m := f.Proto()
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = t
	}
	aliases := onnx.InitializerAliases(m.GetGraph())
	local := map[string]bool{} // initializers of subgraphs
	for _, n := range onnx.Nodes(m.GetGraph()) {
		for _, a := range n.GetAttribute() {
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				for _, t := range sg.GetInitializer() {
					local[t.GetName()] = true
				}
			}
		}
	}
	var out []Layer
	for _, n := range onnx.Nodes(m.GetGraph()) {
		if !Quantizable(n.GetDomain(), n.GetOpType()) || len(n.GetInput()) < 2 {
			continue
		}
		l := Layer{Name: n.GetName(), Type: n.GetOpType(), Input: n.GetInput()[0],
			Weight: onnx.Resolve(aliases, n.GetInput()[1]), Index: len(out)}
		_, l.InputIsConstant = inits[onnx.Resolve(aliases, l.Input)]
		l.InputIsConstant = l.InputIsConstant || local[l.Input]
		if w, ok := inits[l.Weight]; ok {
			l.Shape = make([]int, len(w.GetDims()))
			for i, d := range w.GetDims() {
				l.Shape[i] = int(d)
			}
			l.DType, _ = onnx.DTypeOf(w.GetDataType())
			l.Axis, _ = WeightAxis(n, len(l.Shape))
		} else if local[l.Weight] {
			l.WeightInSubgraph = true
		} else {
			l.WeightIsActivation = true
			l.Weight = n.GetInput()[1]
		}
		if len(n.GetInput()) > 2 && n.GetOpType() != TypeMatMul && n.GetInput()[2] != "" {
			l.Bias = onnx.Resolve(aliases, n.GetInput()[2])
		}
		out = append(out, l)
	}
	return out
}
