package static

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/formats/onnx/upgrade"
	"github.com/qscript-dev/qscript/graph"
)

// Summary describes an ONNX model for `qscript inspect`: its inputs and outputs, opset
// imports, op counts (subgraphs included), the nodes graph/ cannot run, whether static
// quantization would upgrade it, and the weights Constant nodes compute.
type Summary struct {
	Inputs  []ValueSummary `json:"inputs"`
	Outputs []ValueSummary `json:"outputs"`
	Opsets  []OpsetImport  `json:"opset_imports"`
	Nodes   int            `json:"nodes"`
	Ops     []OpCount      `json:"ops"` // most used first
	// Unsupported lists every node graph/ refuses at load; LoadError is another load error.
	Unsupported []UnsupportedNode `json:"unsupported,omitempty"`
	LoadError   string            `json:"load_error,omitempty"`
	// Upgrade says what QDQ export does with an opset below 13: "" at 13 or later.
	Upgrade string `json:"upgrade,omitempty"`
	// ConstantWeights counts the Conv/Gemm/MatMul weights and biases computed by Constant
	// subgraphs (folded into initializers by static quantization).
	ConstantWeights int `json:"constant_weights,omitempty"`
}

// ValueSummary is a graph input or output: dims are numbers, symbolic names, or "?".
type ValueSummary struct {
	Name  string   `json:"name"`
	DType string   `json:"dtype"`
	Dims  []string `json:"dims"`
}

// OpsetImport is one opset_import entry ("ai.onnx" for the default domain).
type OpsetImport struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// OpCount is how many nodes use an op.
type OpCount struct {
	Op     string `json:"op"`
	Domain string `json:"domain,omitempty"`
	Count  int    `json:"count"`
}

// UnsupportedNode is a node graph/ cannot run.
type UnsupportedNode struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Domain string `json:"domain,omitempty"`
	Opset  int    `json:"opset"`
	Reason string `json:"reason"`
}

// Inspect summarizes f. It loads the graph (graph/'s load-time check names every node it
// cannot run) but runs nothing, except the constant subgraphs it counts.
func Inspect(f *onnx.File) Summary {
	m := f.Proto()
	g := m.GetGraph()
	var s Summary
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			s.Inputs = append(s.Inputs, valueSummary(vi))
		}
	}
	for _, vi := range g.GetOutput() {
		s.Outputs = append(s.Outputs, valueSummary(vi))
	}
	for _, op := range m.GetOpsetImport() {
		d := op.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		s.Opsets = append(s.Opsets, OpsetImport{Domain: d, Version: op.GetVersion()})
	}
	counts := map[OpCount]int{}
	nodes := onnx.Nodes(g)
	s.Nodes = len(nodes)
	for _, n := range nodes {
		counts[OpCount{Op: n.GetOpType(), Domain: n.GetDomain()}]++
	}
	for k, n := range counts {
		k.Count = n
		s.Ops = append(s.Ops, k)
	}
	slices.SortFunc(s.Ops, func(a, b OpCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Op, b.Op))
	})
	if _, err := graph.LoadONNX(f); err != nil {
		var many *graph.UnsupportedOpsError
		var one *graph.UnsupportedError
		switch {
		case errors.As(err, &many):
			for _, u := range many.Nodes {
				s.Unsupported = append(s.Unsupported, unsupportedNode(u))
			}
		case errors.As(err, &one):
			s.Unsupported = append(s.Unsupported, unsupportedNode(one))
		default:
			s.LoadError = err.Error()
		}
	}
	if from := upgrade.Opset(m); from > 0 && from < upgrade.Target {
		if err := upgrade.Check(m); err != nil {
			s.Upgrade = err.Error()
		} else {
			s.Upgrade = fmt.Sprintf("upgraded from opset %d to %d in the QDQ file", from, upgrade.Target)
		}
	}
	if _, folded, err := FoldWeights(context.Background(), f); err == nil {
		s.ConstantWeights = len(folded)
	}
	return s
}

func unsupportedNode(u *graph.UnsupportedError) UnsupportedNode {
	return UnsupportedNode{Node: u.Node, Op: u.OpType, Domain: u.Domain, Opset: u.Opset, Reason: u.Reason}
}

func valueSummary(vi *onnxpb.ValueInfoProto) ValueSummary {
	v := ValueSummary{Name: vi.GetName(), DType: "?"}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() != nil {
			v.DType = "non-tensor"
		}
		return v
	}
	if et := tt.GetElemType(); et != 0 {
		v.DType = onnx.DataTypeName(et)
	}
	if tt.GetShape() == nil {
		v.Dims = nil
		return v
	}
	v.Dims = []string{}
	for _, d := range tt.GetShape().GetDim() {
		switch {
		case d.GetDimParam() != "":
			v.Dims = append(v.Dims, d.GetDimParam())
		case d.GetValue() != nil && d.GetDimValue() >= 0:
			v.Dims = append(v.Dims, fmt.Sprint(d.GetDimValue()))
		default:
			v.Dims = append(v.Dims, "?")
		}
	}
	return v
}

// WriteText writes the summary as the text `qscript inspect` prints; quote makes a name
// from the file safe for a terminal.
func (s Summary) WriteText(w io.Writer, quote func(string) string) {
	dims := func(d []string) string {
		if d == nil {
			return "[?...]"
		}
		return "[" + strings.Join(d, ", ") + "]"
	}
	fmt.Fprintln(w, "\nGraph")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, in := range s.Inputs {
		fmt.Fprintf(tw, "  input\t%s\t%s\t%s\n", quote(in.Name), in.DType, quote(dims(in.Dims)))
	}
	for _, out := range s.Outputs {
		fmt.Fprintf(tw, "  output\t%s\t%s\t%s\n", quote(out.Name), out.DType, quote(dims(out.Dims)))
	}
	tw.Flush()
	var ops []string
	for _, o := range s.Opsets {
		ops = append(ops, fmt.Sprintf("%s %d", quote(o.Domain), o.Version))
	}
	fmt.Fprintf(w, "  opsets  %s\n", strings.Join(ops, ", "))
	var counts []string
	for _, o := range s.Ops {
		name := o.Op
		if o.Domain != "" && o.Domain != "ai.onnx" {
			name = o.Domain + "." + o.Op
		}
		counts = append(counts, fmt.Sprintf("%s %d", quote(name), o.Count))
	}
	fmt.Fprintf(w, "  ops     %d nodes: %s\n", s.Nodes, strings.Join(counts, ", "))
	if s.ConstantWeights > 0 {
		fmt.Fprintf(w, "  %d weights computed by Constant nodes (static quantization folds them into initializers)\n", s.ConstantWeights)
	}
	if s.Upgrade != "" {
		fmt.Fprintf(w, "  QDQ export: %s\n", quote(s.Upgrade))
	}
	switch {
	case len(s.Unsupported) > 0:
		fmt.Fprintf(w, "\ngraph/ cannot run %d nodes:\n", len(s.Unsupported))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, u := range s.Unsupported {
			op := u.Op
			if u.Domain != "" && u.Domain != "ai.onnx" {
				op = u.Domain + "." + op
			}
			fmt.Fprintf(tw, "  %s\t%s (opset %d)\t%s\n", quote(u.Node), quote(op), u.Opset, quote(u.Reason))
		}
		tw.Flush()
	case s.LoadError != "":
		fmt.Fprintf(w, "\ngraph/ cannot load the model: %s\n", quote(s.LoadError))
	default:
		fmt.Fprintln(w, "\ngraph/ runs every node")
	}
}
