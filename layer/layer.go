package layer

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/tensor"
)

// Layer types. State dicts give Linear, Conv1d/2d/3d, Embedding and Norm (inferred from
// the weight's shape and name); ONNX models give their op types Conv, Gemm and MatMul.
const (
	TypeLinear    = "Linear"
	TypeConv      = "Conv"
	TypeConv1d    = "Conv1d"
	TypeConv2d    = "Conv2d"
	TypeConv3d    = "Conv3d"
	TypeEmbedding = "Embedding"
	TypeNorm      = "Norm"
	TypeGemm      = "Gemm"
	TypeMatMul    = "MatMul"
)

// Types lists every layer type List can give and selections accept.
var Types = []string{TypeLinear, TypeConv, TypeConv1d, TypeConv2d, TypeConv3d, TypeEmbedding, TypeNorm, TypeGemm, TypeMatMul}

// Layer is one weight-bearing layer of a model: a state-dict layer or an ONNX node (List),
// or an ONNX node as static quantization rewrites it (Nodes).
type Layer struct {
	Name string // "fc1" (the weight's prefix), or the ONNX node name
	Type string // one of Types
	// Weight is the weight tensor's name, "fc1.weight". Nodes gives the initializer a node
	// reads through Identity nodes (onnx.InitializerAliases: torch.onnx.export stores
	// identical constants once), so nodes sharing a weight name the same tensor.
	Weight string
	Bias   string       // the bias tensor's name, "" when the layer has none
	Shape  []int        // the weight's shape; nil for an activation
	DType  tensor.DType // the weight's stored dtype
	Index  int          // position in the model's layer order, from 0
	// Axis is the output-channel axis of the weight: 0 for state dicts (PyTorch stores
	// Linear and Conv weights as [out, in, ...]); for ONNX, WeightAxis (1 for a
	// MatMul weight [in, out]).
	Axis int

	// Set by Nodes only:
	Input              string // the activation the node reads (input 0)
	WeightIsActivation bool   // Weight is an activation: a MatMul of two activations
	WeightInSubgraph   bool   // Weight is an initializer of an If or Loop subgraph: stays float
	InputIsConstant    bool   // input 0 is an initializer, directly or through Identity
}

// Prefix is the weight's name without ".weight" ("conv2" for "conv2.weight"), the
// state-dict layer name, which selections also accept for ONNX nodes; "" when the weight
// is not so named or is an activation.
func (l Layer) Prefix() string {
	if p, ok := strings.CutSuffix(l.Weight, ".weight"); ok && !l.WeightIsActivation {
		return p
	}
	return ""
}

// List lists the layers of m in model order.
//
// In a state dict (safetensors, .pt) a layer is a floating-point tensor named
// "<prefix>.weight": 2-D is Linear, 3-D Conv1d, 4-D Conv2d, 5-D Conv3d, 1-D Norm (and so
// never quantized by default), and a 2-D weight whose prefix contains "embed", "wte",
// "wpe" or "token_embd" (GGUF) is an Embedding. "<prefix>.bias" is its bias. In an ONNX model (a *onnx.File,
// possibly inside a *formats.File) the layers are the Conv, Gemm and MatMul nodes whose
// weight input is an initializer, typed by op type and named by node name.
//
// overrides maps a layer name (or its weight tensor's name) to a type from Types,
// replacing the inferred one. An override for a name that is not a layer, or with an
// unknown type, is an error that suggests the closest names.
func List(m formats.Model, overrides map[string]string) ([]Layer, error) {
	var layers []Layer
	if f, ok := formats.ONNXFile(m); ok {
		layers = onnxLayers(f)
	} else {
		layers = stateDictLayers(m.Tensors())
	}
	if err := applyOverrides(layers, overrides); err != nil {
		return nil, err
	}
	return layers, nil
}

func stateDictLayers(infos []tensor.Info) []Layer {
	byName := make(map[string]tensor.Info, len(infos))
	for _, info := range infos {
		byName[info.Name] = info
	}
	var layers []Layer
	for _, info := range infos {
		prefix, ok := strings.CutSuffix(info.Name, ".weight")
		if !ok || prefix == "" || !info.DType.IsFloat() {
			continue
		}
		typ := inferType(prefix, len(info.Shape))
		if typ == "" {
			continue
		}
		l := Layer{Name: prefix, Type: typ, Weight: info.Name, Shape: slices.Clone(info.Shape),
			DType: info.DType, Index: len(layers)}
		if b, ok := byName[prefix+".bias"]; ok && b.DType.IsFloat() {
			l.Bias = b.Name
		}
		layers = append(layers, l)
	}
	if slices.IsSortedFunc(infos, func(a, b tensor.Info) int { return strings.Compare(a.Name, b.Name) }) {
		// Readers that sort by name (safetensors) lose the model's order; numbers compared
		// by value ("layers.2" before "layers.10") come closer to it.
		slices.SortStableFunc(layers, func(a, b Layer) int { return NaturalCompare(a.Name, b.Name) })
		for i := range layers {
			layers[i].Index = i
		}
	}
	return layers
}

// NaturalCompare orders strings with runs of digits compared by value ("layers.2" before
// "layers.10"), as tensor names are numbered; llm orders its shards' tensors with it too.
func NaturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// inferType gives a state-dict layer's type from its name and weight rank ("" for none).
func inferType(prefix string, rank int) string {
	switch rank {
	case 1:
		return TypeNorm
	case 2:
		lower := strings.ToLower(prefix)
		for _, hint := range []string{"embed", "wte", "wpe", "token_embd"} { // token_embd: GGUF's name
			if strings.Contains(lower, hint) {
				return TypeEmbedding
			}
		}
		return TypeLinear
	case 3:
		return TypeConv1d
	case 4:
		return TypeConv2d
	case 5:
		return TypeConv3d
	}
	return ""
}

func applyOverrides(layers []Layer, overrides map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		typ := overrides[name]
		canon, err := CheckType(typ)
		if err != nil {
			return fmt.Errorf("layer_types[%q]: %w", name, err)
		}
		i := slices.IndexFunc(layers, func(l Layer) bool { return l.Name == name || l.Weight == name })
		if i < 0 {
			return UnknownName("layer_types", name, false, layers)
		}
		layers[i].Type = canon
	}
	return nil
}

// CheckType accepts a layer type in any letter case and returns its canonical spelling,
// or an error naming the closest type and every valid one.
func CheckType(s string) (string, error) {
	for _, t := range Types {
		if strings.EqualFold(s, t) {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown layer type %q%s; valid types: %s", s, suggest.DidYouMean(s, Types), strings.Join(Types, ", "))
}

// TypeMatches reports whether a layer of type layerType is selected by want: an exact
// (case-insensitive) match, or a family: "Conv" takes Conv1d, Conv2d, Conv3d and ONNX
// Conv; "Linear" takes ONNX Gemm and MatMul.
func TypeMatches(layerType, want string) bool {
	if strings.EqualFold(layerType, want) {
		return true
	}
	switch {
	case strings.EqualFold(want, TypeConv):
		return layerType == TypeConv1d || layerType == TypeConv2d || layerType == TypeConv3d
	case strings.EqualFold(want, TypeLinear):
		return layerType == TypeGemm || layerType == TypeMatMul
	}
	return false
}

// OfType returns the layers whose type matches typ (see TypeMatches), in model order.
// Shortcut takes its first or last: first_conv, last_linear, ….
func OfType(layers []Layer, typ string) []Layer {
	var out []Layer
	for _, l := range layers {
		if TypeMatches(l.Type, typ) {
			out = append(out, l)
		}
	}
	return out
}
