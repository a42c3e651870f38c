package layer

import (
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
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

// onnxLayers are List's layers of an ONNX model: each quantizable node whose weight is a
// float main-graph initializer of rank 2 or more, once per weight, in model order.
func onnxLayers(f *onnx.File) []Layer {
	infos := map[string]tensor.Info{}
	for _, info := range f.Tensors() {
		infos[info.Name] = info
	}
	seen := map[string]bool{}
	var layers []Layer
	// Subgraph nodes (If branches, Loop bodies) count too: they read the main graph's
	// initializers by name.
	for i, node := range onnx.Nodes(f.Proto().GetGraph()) {
		op := node.GetOpType()
		if !Quantizable(node.GetDomain(), op) || len(node.GetInput()) < 2 {
			continue
		}
		w, ok := infos[node.GetInput()[1]]
		if !ok || seen[w.Name] || !w.DType.IsFloat() || len(w.Shape) < 2 {
			continue
		}
		axis, err := WeightAxis(node, len(w.Shape))
		if err != nil {
			continue // a node ORT would not quantize either (e.g. Gemm with transB of a 1-D B)
		}
		seen[w.Name] = true
		name := node.GetName()
		if name == "" {
			name = fmt.Sprintf("%s_%d", op, i)
		}
		l := Layer{Name: name, Type: op, Weight: w.Name, Shape: slices.Clone(w.Shape), DType: w.DType,
			Index: len(layers), Axis: axis}
		if op != TypeMatMul && len(node.GetInput()) > 2 {
			if b, ok := infos[node.GetInput()[2]]; ok && b.DType.IsFloat() {
				l.Bias = b.Name
			}
		}
		layers = append(layers, l)
	}
	return layers
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
