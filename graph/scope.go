package graph

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// UnsupportedOpsError is Load's error when several nodes use ops, attributes or dtypes the
// executor does not implement: it names every one, so that a user sees the whole list at
// once. errors.Is(err, ErrUnsupported) holds, and errors.As with *UnsupportedError gives the
// first node.
type UnsupportedOpsError struct {
	Nodes []*UnsupportedError
}

// maxListedNodes bounds the node names the message prints per op (all stay in Nodes).
const maxListedNodes = 12

func (e *UnsupportedOpsError) Error() string {
	type group struct {
		desc, reason string
		nodes        []string
	}
	var groups []*group
	byKey := map[string]*group{}
	ops := map[string]bool{}
	for _, u := range e.Nodes {
		key := u.opDesc() + "\x00" + u.Reason
		gr := byKey[key]
		if gr == nil {
			gr = &group{desc: u.opDesc(), reason: u.Reason}
			byKey[key] = gr
			groups = append(groups, gr)
		}
		gr.nodes = append(gr.nodes, fmt.Sprintf("%q", u.Node))
		ops[u.Domain+"."+u.OpType] = true
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "graph: unsupported: %d nodes (%d op types) the executor cannot run:", len(e.Nodes), len(ops))
	for _, gr := range groups {
		names := gr.nodes
		more := ""
		if len(names) > maxListedNodes {
			more = fmt.Sprintf(" and %d more", len(names)-maxListedNodes)
			names = names[:maxListedNodes]
		}
		noun := "node"
		if len(gr.nodes) > 1 {
			noun = "nodes"
		}
		fmt.Fprintf(&sb, "\n  %s: %s: %s %s%s", gr.desc, gr.reason, noun, strings.Join(names, ", "), more)
	}
	return sb.String()
}

// Unwrap gives the nodes' errors, for errors.Is and errors.As.
func (e *UnsupportedOpsError) Unwrap() []error {
	out := make([]error, len(e.Nodes))
	for i, u := range e.Nodes {
		out[i] = u
	}
	return out
}

// unsupportedErr is nil, the one node's error, or the list of them.
func unsupportedErr(us []*UnsupportedError) error {
	switch len(us) {
	case 0:
		return nil
	case 1:
		return us[0]
	}
	return &UnsupportedOpsError{Nodes: us}
}

// unsupportedNodes gives the nodes an error from compiling a node refuses (several when it
// comes from a subgraph), or nil when it is some other error.
func unsupportedNodes(err error) []*UnsupportedError {
	var many *UnsupportedOpsError
	if errors.As(err, &many) {
		return many.Nodes
	}
	var ue *UnsupportedError
	if errors.As(err, &ue) && ue.Node != "" {
		return []*UnsupportedError{ue}
	}
	return nil
}

// domainOpset is the opset the model imports for a domain ("" and "ai.onnx" are the default).
func (g *Graph) domainOpset(domain string) int {
	if domain == "ai.onnx" {
		domain = ""
	}
	return g.opsets[domain]
}

// Opsets returns the opset the model imports for each domain ("" for ai.onnx).
func (g *Graph) Opsets() map[string]int {
	out := make(map[string]int, len(g.opsets))
	for d, v := range g.opsets {
		out[d] = v
	}
	return out
}

// bindOuter makes a value of an enclosing graph readable in subgraph g: it joins g.outer and
// its type and shape are the enclosing graph's. It reports false when no enclosing graph has it.
func (g *Graph) bindOuter(name string) bool {
	for p := g.parent; p != nil; p = p.parent {
		if info, ok := p.infos[name]; ok {
			if !slices.Contains(g.outer, name) {
				g.outer = append(g.outer, name)
			}
			g.infos[name] = info
			return true
		}
	}
	return false
}

// nodeFreeVars lists, sorted, the values a node's subgraphs read from outside themselves.
func nodeFreeVars(np *onnxpb.NodeProto) []string {
	set := map[string]bool{}
	for _, ap := range np.GetAttribute() {
		if ap.GetG() != nil {
			graphFreeVars(ap.GetG(), set)
		}
		for _, sg := range ap.GetGraphs() {
			graphFreeVars(sg, set)
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// graphFreeVars adds to set the names gp's nodes (and their subgraphs) read that gp neither
// takes as input nor holds as initializer nor computes.
func graphFreeVars(gp *onnxpb.GraphProto, set map[string]bool) {
	local := map[string]bool{}
	for _, vi := range gp.GetInput() {
		local[vi.GetName()] = true
	}
	for _, tp := range gp.GetInitializer() {
		local[tp.GetName()] = true
	}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			local[o] = true
		}
	}
	use := func(name string) {
		if name != "" && !local[name] {
			set[name] = true
		}
	}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			use(in)
		}
		inner := map[string]bool{}
		for _, ap := range n.GetAttribute() {
			if ap.GetG() != nil {
				graphFreeVars(ap.GetG(), inner)
			}
			for _, sg := range ap.GetGraphs() {
				graphFreeVars(sg, inner)
			}
		}
		for name := range inner {
			use(name)
		}
	}
	for _, vi := range gp.GetOutput() {
		use(vi.GetName())
	}
}

// Walk calls f for every node of g and of the subgraphs of its If and Loop nodes, depth
// first, each subgraph's nodes before the node that holds it (n.Parent).
func (g *Graph) Walk(f func(n *Node)) {
	for _, n := range g.nodes {
		for _, name := range sortedAttrNames(n) {
			if sub := n.Attrs[name].Graph; sub != nil {
				sub.Walk(f)
			}
		}
		f(n)
	}
}

func sortedAttrNames(n *Node) []string {
	names := make([]string, 0, len(n.Attrs))
	for name := range n.Attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
