package calib

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// DefaultTargets lists the activations QDQ export quantizes, in the order the graph
// first reads them: inputs 0 and 1 of every Conv, Gemm and MatMul node, those inside If
// and Loop subgraphs included, that are not initializers (input 1 is the weight, an
// activation only in a MatMul of two activations) and are float or of unknown type. An
// output of Identity nodes whose input is an initializer (torch.onnx.export feeds the
// other readers of a constant it stored once that way) counts as that initializer, as in
// onnx.InitializerAliases. A subgraph node's initializer may be one of an outer graph.
func DefaultTargets(g *graph.Graph) []string {
	var out []string
	seen := map[string]bool{}
	for _, sn := range walk(g) {
		n := sn.node
		if !layer.Quantizable(n.Domain, n.OpType) {
			continue
		}
		for i, in := range n.Inputs {
			if i > 1 || in == "" || seen[in] {
				continue
			}
			if isConstant(sn.scope, in) {
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

// scopedNode is a node with the graphs whose values it reads by name: its own graph
// first, then the outer ones up to the main graph.
type scopedNode struct {
	node  *graph.Node
	scope []*graph.Graph
}

// walk lists the nodes of g and of its subgraphs in graph.Walk's order, each with its
// scope.
func walk(g *graph.Graph) []scopedNode {
	var out []scopedNode
	var visit func(scope []*graph.Graph)
	visit = func(scope []*graph.Graph) {
		for _, n := range scope[0].Nodes() {
			for _, name := range slices.Sorted(maps.Keys(n.Attrs)) {
				if sub := n.Attrs[name].Graph; sub != nil {
					visit(append([]*graph.Graph{sub}, scope...))
				}
			}
			out = append(out, scopedNode{node: n, scope: scope})
		}
	}
	visit([]*graph.Graph{g})
	return out
}

// consumers maps each target to the quantizable nodes that read it.
func consumers(g *graph.Graph, targets []string) map[string][]string {
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	out := make(map[string][]string, len(targets))
	for _, sn := range walk(g) {
		n := sn.node
		if !layer.Quantizable(n.Domain, n.OpType) {
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
	scopes := [][]*graph.Graph{{g}}
	for _, sn := range walk(g) {
		for _, a := range sn.node.Attrs {
			if a.Graph != nil {
				scopes = append(scopes, append([]*graph.Graph{a.Graph}, sn.scope...))
			}
		}
	}
	for _, t := range targets {
		vi, ok := g.ValueInfo(t)
		if !ok {
			return fmt.Errorf("calib: target %q is no tensor of the model (activations of quantizable nodes: %s)", t, strings.Join(DefaultTargets(g), ", "))
		}
		for _, scope := range scopes {
			if _, isInit := scope[0].Initializer(t); isInit {
				return fmt.Errorf("calib: target %q is an initializer (a weight), not an activation", t)
			}
			if isConstant(scope, t) {
				return fmt.Errorf("calib: target %q is an Identity of an initializer (a weight), not an activation", t)
			}
		}
		if vi.DType != tensor.Invalid && !vi.DType.IsFloat() {
			return fmt.Errorf("calib: target %q is %v; only float activations are quantized", t, vi.DType)
		}
	}
	return nil
}

// isConstant reports whether name, read in scope, is an initializer, or the output of a
// chain of default-domain Identity nodes that starts at one.
func isConstant(scope []*graph.Graph, name string) bool {
	for steps := 0; steps <= 1<<20; steps++ {
		var n *graph.Node
		for _, g := range scope {
			if _, isInit := g.Initializer(name); isInit {
				return true
			}
			if p, ok := g.Producer(name); ok {
				n = p
				break
			}
		}
		if n == nil || n.OpType != "Identity" || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Inputs) != 1 {
			return false
		}
		name = n.Inputs[0]
	}
	return false
}

// inputSite is one input of a node to copy for a target.
type inputSite struct{ input, target int }

// captureSites says where the targets of subgraphs are copied from. A value some node
// writes is copied from that node's outputs (each time it runs); a subgraph's formal input
// (a Loop body's iteration number or carried value) is written by no node, so it is
// copied from the inputs of one node of that subgraph that reads it, which runs once
// each time the subgraph does. inSub marks the targets defined inside a subgraph.
func captureSites(g *graph.Graph, index map[string]int) (map[*graph.Node][]inputSite, []bool) {
	sites := map[*graph.Node][]inputSite{}
	inSub := make([]bool, len(index))
	formal := map[string]*graph.Graph{} // subgraph formal input → its subgraph
	for _, sn := range walk(g) {
		for _, a := range sn.node.Attrs {
			if a.Graph == nil {
				continue
			}
			for _, in := range a.Graph.Inputs() {
				formal[in.Name] = a.Graph
			}
		}
		if len(sn.scope) > 1 {
			for _, o := range sn.node.Outputs {
				if i, ok := index[o]; ok {
					inSub[i] = true
				}
			}
		}
	}
	for t, i := range index {
		if formal[t] != nil {
			inSub[i] = true
		}
	}
	chosen := map[string]bool{}
	for _, sn := range walk(g) {
		for k, in := range sn.node.Inputs {
			i, ok := index[in]
			if !ok || chosen[in] || formal[in] == nil || formal[in] != sn.scope[0] {
				continue
			}
			chosen[in], inSub[i] = true, true
			sites[sn.node] = append(sites[sn.node], inputSite{input: k, target: i})
		}
	}
	return sites, inSub
}

// subgraphQuantizable numbers the quantizable nodes inside subgraphs, in walk order.
func subgraphQuantizable(g *graph.Graph) map[*graph.Node]int {
	out := map[*graph.Node]int{}
	for _, sn := range walk(g) {
		if sn.node.Parent != nil && layer.Quantizable(sn.node.Domain, sn.node.OpType) {
			out[sn.node] = len(out)
		}
	}
	return out
}
