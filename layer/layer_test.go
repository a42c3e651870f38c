package layer

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

const (
	exampleONNX        = "../examples/models/digits_cnn.onnx"
	examplePT          = "../examples/models/digits_cnn.pt"
	exampleSafetensors = "../examples/models/digits_cnn.safetensors"
)

func openModel(t testing.TB, path string) *formats.File {
	t.Helper()
	f, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

type layerRow struct {
	name, typ, bias string
	shape           []int
	axis            int
}

func checkLayers(t *testing.T, got []Layer, want []layerRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d layers, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Type != w.typ || g.Bias != w.bias || !slices.Equal(g.Shape, w.shape) || g.Index != i || g.Axis != w.axis || g.DType != tensor.F32 {
			t.Errorf("layer %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLayersStateDict(t *testing.T) {
	pt := []layerRow{
		{"conv1", "Conv2d", "conv1.bias", []int{16, 1, 3, 3}, 0},
		{"bn1", "Norm", "bn1.bias", []int{16}, 0},
		{"conv2", "Conv2d", "conv2.bias", []int{32, 16, 3, 3}, 0},
		{"conv3", "Conv2d", "conv3.bias", []int{32, 32, 3, 3}, 0},
		{"fc1", "Linear", "fc1.bias", []int{64, 512}, 0},
		{"fc2", "Linear", "fc2.bias", []int{10, 64}, 0},
	}
	layers, err := List(openModel(t, examplePT), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, layers, pt)
	for i, l := range layers {
		if l.Weight != l.Name+".weight" {
			t.Errorf("layer %d weight %q", i, l.Weight)
		}
	}
	// safetensors lists tensors by name: bn1 comes first.
	st := append([]layerRow{pt[1], pt[0]}, pt[2:]...)
	layers, err = List(openModel(t, exampleSafetensors), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, layers, st)
}

func TestLayersONNX(t *testing.T) {
	layers, err := List(openModel(t, exampleONNX), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, layers, []layerRow{
		{"/conv1/Conv", "Conv", "onnx::Conv_30", []int{16, 1, 3, 3}, 0},
		{"/conv2/Conv", "Conv", "conv2.bias", []int{32, 16, 3, 3}, 0},
		{"/conv3/Conv", "Conv", "conv3.bias", []int{32, 32, 3, 3}, 0},
		{"/fc1/Gemm", "Gemm", "fc1.bias", []int{64, 512}, 0},
		{"/fc2/Gemm", "Gemm", "fc2.bias", []int{10, 64}, 0},
	})
	if lin := OfType(layers, "Linear"); len(lin) != 2 || lin[1].Name != "/fc2/Gemm" {
		t.Errorf("OfType(Linear) = %v", lin)
	}
	if conv := OfType(layers, "Conv"); len(conv) != 3 || conv[0].Weight != "onnx::Conv_29" {
		t.Errorf("OfType(Conv) = %v", conv)
	}
}

func TestLayerHelpersAndOverrides(t *testing.T) {
	m := openModel(t, examplePT)
	layers, err := List(m, map[string]string{"fc2": "embedding", "conv1.weight": "Linear"})
	if err != nil {
		t.Fatal(err)
	}
	if layers[5].Type != "Embedding" || layers[0].Type != "Linear" {
		t.Errorf("overrides not applied: %s %s", layers[5].Type, layers[0].Type)
	}
	layers, _ = List(m, nil)
	if conv := OfType(layers, "Conv"); len(conv) != 3 || conv[0].Name != "conv1" || OfType(layers, "Conv2d")[2].Name != "conv3" {
		t.Errorf("OfType(Conv) = %v", conv)
	}
	if lin := OfType(layers, "linear"); len(lin) != 2 || lin[1].Name != "fc2" || len(OfType(layers, "Embedding")) != 0 {
		t.Errorf("OfType(linear) = %v", lin)
	}
	for _, c := range []struct {
		overrides map[string]string
		err       string
	}{
		{map[string]string{"fc3": "Linear"}, `layer_types: no layer named "fc3" (similar layers: fc1, fc2)`},
		{map[string]string{"fc1": "Linaer"}, `layer_types["fc1"]: unknown layer type "Linaer" (did you mean "Linear"?); valid types: Linear, Conv, Conv1d, Conv2d, Conv3d, Embedding, Norm, Gemm, MatMul`},
		{map[string]string{"decoder": "Linear"}, `layer_types: no layer named "decoder" (the model's layers: conv1, bn1, conv2, conv3, fc1, fc2)`},
	} {
		_, err := List(m, c.overrides)
		if err == nil || err.Error() != c.err {
			t.Errorf("List(%v) error\n got %v\nwant %s", c.overrides, err, c.err)
		}
	}
}

func TestInferTypes(t *testing.T) {
	infos := []tensor.Info{
		{Name: "model.embed_tokens.weight", DType: tensor.BF16, Shape: []int{100, 8}},
		{Name: "transformer.wte.weight", DType: tensor.F16, Shape: []int{100, 8}},
		{Name: "token_embd.weight", DType: tensor.F32, Shape: []int{100, 8}}, // GGUF
		{Name: "conv.weight", DType: tensor.F32, Shape: []int{4, 2, 3}},
		{Name: "conv3d.weight", DType: tensor.F32, Shape: []int{4, 2, 3, 3, 3}},
		{Name: "q.weight", DType: tensor.I8, Shape: []int{4, 4}}, // already integer: not a layer
		{Name: "weird.weight", DType: tensor.F32, Shape: []int{1, 1, 1, 1, 1, 1}},
		{Name: "scalar", DType: tensor.F32, Shape: []int{}},
		{Name: "lm_head.weight", DType: tensor.F32, Shape: []int{100, 8}},
		{Name: "lm_head.bias", DType: tensor.I64, Shape: []int{100}}, // not a float bias
	}
	got := stateDictLayers(infos)
	want := map[string]string{"model.embed_tokens": "Embedding", "transformer.wte": "Embedding", "token_embd": "Embedding", "conv": "Conv1d",
		"conv3d": "Conv3d", "lm_head": "Linear"}
	if len(got) != len(want) {
		t.Fatalf("layers %+v", got)
	}
	for _, l := range got {
		if want[l.Name] != l.Type {
			t.Errorf("%s: %s, want %s", l.Name, l.Type, want[l.Name])
		}
		if l.Bias != "" {
			t.Errorf("%s has bias %q", l.Name, l.Bias)
		}
	}
}

func TestNaturalOrder(t *testing.T) {
	infos := []tensor.Info{
		{Name: "layers.1.weight", DType: tensor.F32, Shape: []int{2, 2}},
		{Name: "layers.10.weight", DType: tensor.F32, Shape: []int{2, 2}},
		{Name: "layers.2.weight", DType: tensor.F32, Shape: []int{2, 2}},
	}
	var names []string
	for _, l := range stateDictLayers(infos) {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"layers.1", "layers.2", "layers.10"}) {
		t.Errorf("order %v", names)
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"layers.2", "layers.10", -1}, {"layers.10", "layers.2", 1}, {"layers.02", "layers.2", 0},
		{"a", "b", -1}, {"a", "a.0", -1}, {"x9y", "x10", -1}, {"", "", 0},
	} {
		if got := NaturalCompare(c.a, c.b); got != c.want {
			t.Errorf("NaturalCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestQuantizableAndWeightAxis(t *testing.T) {
	tb := func(i int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String("transB"), I: proto.Int64(i)}
	}
	for _, c := range []struct {
		op, domain string
		attrs      []*onnxpb.AttributeProto
		rank       int
		want       string // Quantizable, then WeightAxis's axis and error
	}{
		{"Conv", "", nil, 4, "true 0 <nil>"}, {"Gemm", "ai.onnx", nil, 2, "true 1 <nil>"}, {"MatMul", "", nil, 3, "true 2 <nil>"},
		{"Gemm", "", []*onnxpb.AttributeProto{tb(1)}, 2, "true 0 <nil>"}, {"Gemm", "", []*onnxpb.AttributeProto{tb(0), tb(1)}, 2, "true 1 <nil>"},
		{"MatMul", "", nil, 1, `true 0 qdq: MatMul "n": a 1-D weight has no output axis`}, {"Conv", "com.example", nil, 4, "false 0 <nil>"},
		{"Relu", "", nil, 2, `false 0 qdq: node "n": Relu is not a quantizable op (Conv, Gemm, MatMul)`},
	} {
		axis, err := WeightAxis(&onnxpb.NodeProto{Name: proto.String("n"), OpType: proto.String(c.op), Attribute: c.attrs}, c.rank)
		if got := fmt.Sprint(Quantizable(c.domain, c.op), axis, err); got != c.want {
			t.Errorf("%s (%q): %s, want %s", c.op, c.domain, got, c.want)
		}
	}
}
