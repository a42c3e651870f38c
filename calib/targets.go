package calib

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// Quantizable reports whether a node is one that static quantization rewrites (Conv,
// Gemm, MatMul of the default domain), the rule qdq.Export applies.
func Quantizable(n *graph.Node) bool {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return false
	}
	switch n.OpType {
	case "Conv", "Gemm", "MatMul":
		return true
	}
	return false
}

// DefaultTargets lists the activations QDQ export quantizes, in the order the graph
// first reads them: inputs 0 and 1 of every Conv, Gemm and MatMul node that are not
// initializers (input 1 is the weight, an activation only in a MatMul of two
// activations) and are float or of unknown type. An output of Identity nodes whose input
// is an initializer (torch.onnx.export feeds the other readers of a constant it stored
// once that way) counts as that initializer, as in qdq.InitializerAliases.
func DefaultTargets(g *graph.Graph) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range g.Nodes() {
		if !Quantizable(n) {
			continue
		}
		for i, in := range n.Inputs {
			if i > 1 || in == "" || seen[in] {
				continue
			}
			if isConstant(g, in) {
				continue
			}
			if vi, ok := g.ValueInfo(in); ok && vi.DType != tensor.Invalid && !vi.DType.IsFloat() {
				continue
			}
			seen[in] = true
			out = append(out, in)
		}
	}
	return out
}

// consumers maps each target to the quantizable nodes that read it.
func consumers(g *graph.Graph, targets []string) map[string][]string {
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	out := make(map[string][]string, len(targets))
	for _, n := range g.Nodes() {
		if !Quantizable(n) {
			continue
		}
		for i, in := range n.Inputs {
			if i <= 1 && want[in] {
				out[in] = append(out[in], n.Name)
			}
		}
	}
	return out
}

// checkTargets makes sure every target is a float value of the graph that is not a
// constant.
func checkTargets(g *graph.Graph, targets []string) error {
	for _, t := range targets {
		vi, ok := g.ValueInfo(t)
		if !ok {
			return fmt.Errorf("calib: target %q is no tensor of the model (activations of quantizable nodes: %s)", t, strings.Join(DefaultTargets(g), ", "))
		}
		if _, isInit := g.Initializer(t); isInit {
			return fmt.Errorf("calib: target %q is an initializer (a weight), not an activation", t)
		}
		if isConstant(g, t) {
			return fmt.Errorf("calib: target %q is an Identity of an initializer (a weight), not an activation", t)
		}
		if vi.DType != tensor.Invalid && !vi.DType.IsFloat() {
			return fmt.Errorf("calib: target %q is %v; only float activations are quantized", t, vi.DType)
		}
	}
	return nil
}

// isConstant reports whether name is an initializer, or the output of a chain of
// default-domain Identity nodes that starts at one.
func isConstant(g *graph.Graph, name string) bool {
	for steps := 0; steps <= len(g.Nodes()); steps++ {
		if _, isInit := g.Initializer(name); isInit {
			return true
		}
		n, ok := g.Producer(name)
		if !ok || n.OpType != "Identity" || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Inputs) != 1 {
			return false
		}
		name = n.Inputs[0]
	}
	return false
}
