package static

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// nondeterministic ops are never folded: each run draws new values.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true, "RandomUniformLike": true,
	"Multinomial": true, "Bernoulli": true,
}

// FoldWeights returns f with the weights and biases that Constant nodes, or subgraphs
// computed from constants alone (Constant, Identity, Cast, Reshape, Transpose, Unsqueeze
// of constants...), feed into Conv, Gemm and MatMul nodes stored as initializers, as
// torch.onnx.export stores them: Paddle and several other exporters write weights as
// Constant nodes, which would otherwise be calibrated as activations. The subgraph is run
// once by graph/, its nodes are dropped, and every value of it that other nodes still read
// becomes an initializer of the same name, so node and value names do not change. A
// weight read through Identity nodes from an initializer is left alone (it is that
// initializer, see onnx.InitializerAliases).
//
// folded lists the new initializers; when it is empty f itself is returned. The new File
// shares f's external data folder and must be closed by the caller when it is not f.
func FoldWeights(ctx context.Context, f *onnx.File) (out *onnx.File, folded []string, err error) {
	m := f.Proto()
	g := m.GetGraph()
	needed, values := constantWeights(g)
	if len(needed) == 0 {
		return f, nil, nil
	}
	sub := &onnxpb.GraphProto{Name: proto.String("fold")}
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		if needed[n] {
			sub.Node = append(sub.Node, n)
			for _, in := range n.GetInput() {
				used[in] = true
			}
		}
	}
	for _, t := range g.GetInitializer() {
		if used[t.GetName()] {
			sub.Initializer = append(sub.Initializer, t)
		}
	}
	for _, v := range values {
		sub.Output = append(sub.Output, &onnxpb.ValueInfoProto{Name: proto.String(v)})
	}
	subModel := &onnxpb.ModelProto{IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, Graph: sub}
	sg, err := graph.Load(subModel, graph.Options{External: graph.ExternalIn(f.Dir())})
	if err != nil {
		return nil, nil, fmt.Errorf("static: folding the constant weights: %w", err)
	}
	res, err := sg.Run(ctx, map[string]*tensor.Tensor{}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("static: folding the constant weights: %w", err)
	}
	ng := shallowGraph(g)
	for _, n := range g.GetNode() {
		if !needed[n] {
			ng.Node = append(ng.Node, n)
		}
	}
	for _, v := range values {
		tp, err := onnx.TensorToProto(v, res[v])
		if err != nil {
			return nil, nil, fmt.Errorf("static: folding the constant weights: %w", err)
		}
		ng.Initializer = append(ng.Initializer, tp)
		folded = append(folded, v)
	}
	nm := &onnxpb.ModelProto{
		IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, ProducerName: m.ProducerName,
		ProducerVersion: m.ProducerVersion, Domain: m.Domain, ModelVersion: m.ModelVersion,
		DocString: m.DocString, Graph: ng, MetadataProps: m.MetadataProps, TrainingInfo: m.TrainingInfo,
		Functions: m.Functions,
	}
	out, err = onnx.FromProto(f.Name(), nm, f.Dir())
	if err != nil {
		return nil, nil, fmt.Errorf("static: folding the constant weights: %w", err)
	}
	return out, folded, nil
}

// shallowGraph copies g's fields but its nodes, sharing every message (initializers are
// not copied); the initializer list is a new slice.
func shallowGraph(g *onnxpb.GraphProto) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{Name: g.Name, Initializer: slices.Clone(g.GetInitializer()),
		SparseInitializer: g.SparseInitializer, DocString: g.DocString, Input: g.Input, Output: g.Output,
		ValueInfo: g.ValueInfo, QuantizationAnnotation: g.QuantizationAnnotation}
}

// constantWeights finds the nodes to fold, those computing a weight or bias input
// (inputs 1 and 2 of a Conv, Gemm or MatMul) from constants alone, and the values of
// theirs that are still read once they are gone (the weights, and any value other nodes or
// the graph outputs read), in model order.
func constantWeights(g *onnxpb.GraphProto) (map[*onnxpb.NodeProto]bool, []string) {
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
	}
	producer := map[string]*onnxpb.NodeProto{}
	constant := map[string]bool{} // node outputs computed from constants alone
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	// Nodes are in topological order in a valid model; a node whose producers come later
	// is simply not folded.
	for _, n := range g.GetNode() {
		if !foldable(n) {
			continue
		}
		ok := true
		for _, in := range n.GetInput() {
			if in != "" && !isInit[in] && !constant[in] {
				ok = false
				break
			}
		}
		if ok {
			for _, o := range n.GetOutput() {
				if o != "" {
					constant[o] = true
				}
			}
		}
	}
	aliases := onnx.InitializerAliases(g)
	needed := map[*onnxpb.NodeProto]bool{}
	var visit func(name string)
	visit = func(name string) {
		n := producer[name]
		if n == nil || needed[n] || !constant[name] {
			return
		}
		needed[n] = true
		for _, in := range n.GetInput() {
			visit(in)
		}
	}
	for _, n := range g.GetNode() {
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) {
			continue
		}
		for i, in := range n.GetInput() {
			if i == 0 || i > 2 || !constant[in] || isInit[onnx.Resolve(aliases, in)] {
				continue
			}
			visit(in)
		}
	}
	if len(needed) == 0 {
		return nil, nil
	}
	return needed, foldedValues(g, needed)
}

// foldedValues is the outputs of the folded nodes that anything else (another node, a
// graph output) reads: they become initializers.
func foldedValues(g *onnxpb.GraphProto, folded map[*onnxpb.NodeProto]bool) []string {
	read := map[string]bool{}
	for _, n := range g.GetNode() {
		if !folded[n] {
			onnx.MarkReads(n, read)
		}
	}
	for _, o := range g.GetOutput() {
		read[o.GetName()] = true
	}
	var values []string
	for _, n := range g.GetNode() {
		if !folded[n] {
			continue
		}
		for _, o := range n.GetOutput() {
			if o != "" && read[o] && !slices.Contains(values, o) {
				values = append(values, o)
			}
		}
	}
	return values
}

// foldable: a deterministic default-domain op without subgraphs.
func foldable(n *onnxpb.NodeProto) bool {
	d := n.GetDomain()
	return (d == "" || d == "ai.onnx") && !nondeterministic[n.GetOpType()] && !onnx.HasSubgraph(n)
}
