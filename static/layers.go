package static

import (
	"fmt"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// Layer is one quantizable node (Conv, Gemm, MatMul) of an ONNX model. Its name is the
// node name, the name the quantize package gives ONNX layers.
type Layer struct {
	Name string
	Type string // op type: "Conv", "Gemm", "MatMul"
	// Input is the activation the node reads (input 0).
	Input string
	// Weight is input 1: an initializer, or an activation in a MatMul of two activations
	// (WeightIsActivation). A node that reads an initializer through Identity nodes
	// (onnx.InitializerAliases: torch.onnx.export stores identical constants once) has the
	// initializer's name here, so layers sharing a weight name the same tensor.
	Weight             string
	WeightIsActivation bool
	// WeightInSubgraph is set when input 1 is an initializer of an If or Loop subgraph
	// rather than of the main graph: such nodes stay float.
	WeightInSubgraph bool
	// Bias is input 2 of Conv and Gemm ("" when none), resolved through Identity as Weight.
	Bias string
	// InputIsConstant is set when input 0 is an initializer, directly or through Identity.
	InputIsConstant bool
	Shape           []int // the weight's shape; nil for an activation
	DType           tensor.DType
	Index           int // position among the quantizable nodes, in model order
}

// Prefix is the weight initializer's name without ".weight" ("conv2" for "conv2.weight"),
// the state-dict layer name, which Options.Skip also accepts; "" when the weight is not
// so named.
func (l Layer) Prefix() string {
	if p, ok := strings.CutSuffix(l.Weight, ".weight"); ok && !l.WeightIsActivation {
		return p
	}
	return ""
}

// Layers lists the quantizable nodes of f in model order, those of subgraphs (If
// branches, Loop bodies) right after the node holding them (onnx.Nodes). A subgraph node's
// weight may be an initializer of the main graph, which it reads by name.
func Layers(f *onnx.File) []Layer {
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
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) || len(n.GetInput()) < 2 {
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
		} else if local[l.Weight] {
			l.WeightInSubgraph = true
		} else {
			l.WeightIsActivation = true
			l.Weight = n.GetInput()[1]
		}
		if len(n.GetInput()) > 2 && n.GetOpType() != "MatMul" && n.GetInput()[2] != "" {
			l.Bias = onnx.Resolve(aliases, n.GetInput()[2])
		}
		out = append(out, l)
	}
	return out
}

// skipped resolves Options.Skip against the layers: the names to skip, each with the
// entry that selected it.
func skipped(layers []Layer, skip []string) (map[string]string, error) {
	out := map[string]string{}
	for _, entry := range skip {
		matched := false
		for _, l := range layers {
			if matches(entry, l) {
				matched = true
				if _, done := out[l.Name]; !done {
					out[l.Name] = entry
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("static: skip %q matches no Conv, Gemm or MatMul node (closest: %s)", entry, strings.Join(closest(entry, layers), ", "))
		}
	}
	return out, nil
}

func matches(entry string, l Layer) bool {
	names := []string{l.Name}
	if p := l.Prefix(); p != "" {
		names = append(names, p, l.Weight)
	}
	for _, n := range names {
		if strings.Contains(entry, "*") {
			if glob(entry, n) {
				return true
			}
		} else if entry == n {
			return true
		}
	}
	return false
}

// glob matches name against a pattern where * matches any run of characters, dots and
// slashes included (node names look like "/encoder/layer.0/attn/MatMul").
func glob(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return true
}

// closest returns up to three layer names (or prefixes) nearest to name by edit distance.
func closest(name string, layers []Layer) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	for _, l := range layers {
		cs = append(cs, cand{fmt.Sprintf("%q", l.Name), suggest.Distance(name, l.Name)})
		if p := l.Prefix(); p != "" {
			cs = append(cs, cand{fmt.Sprintf("%q", p), suggest.Distance(name, p)})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].s)
	}
	if len(out) == 0 {
		return []string{"the model has none"}
	}
	return out
}
