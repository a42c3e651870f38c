package bindings

import (
	"errors"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
)

func TestModelOptions(t *testing.T) {
	pred := layer.Predicate("f", func(l layer.Layer) bool { return l.Name == "fc2" })
	o, acts, err := modelOptions(map[string]any{
		"weights":     map[string]any{"dtype": "int4", "symmetric": false, "group_size": float64(64), "per_channel": false},
		"layers":      []any{"Linear"},
		"skip":        []any{"conv1", "fc*", pred},
		"include":     "fc1",
		"layer_types": map[string]any{"fc2": "Embedding"},
		"numerics":    "onnxruntime",
		"activations": map[string]any{"dtype": "uint8", "samples": float64(150)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Weights != (quantize.WeightOptions{DType: "int4", Symmetric: false, GroupSize: 64, PerChannel: false}) {
		t.Errorf("weights %+v", o.Weights)
	}
	if !slices.Equal(o.Types, []string{"Linear"}) || len(o.Skip) != 3 || o.Skip[0].Pattern != "conv1" || o.Skip[1].Pattern != "fc*" ||
		o.Skip[2].Func == nil || len(o.Include) != 1 || o.Include[0].Pattern != "fc1" {
		t.Errorf("selection %+v", o.Selection)
	}
	if o.LayerTypes["fc2"] != "Embedding" || o.Numerics != quant.ORT || acts["dtype"] != "uint8" {
		t.Errorf("options %+v", o)
	}
	d := quantize.DefaultOptions()
	if d.Weights != (quantize.WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}) || !slices.Equal(d.Types, []string{"Linear", "Conv"}) || d.Numerics != quant.Torch {
		t.Errorf("defaults %+v", d)
	}
}

func TestOptionErrors(t *testing.T) {
	cases := []struct {
		m   map[string]any
		err string
	}{
		{map[string]any{"weights": map[string]any{"per_chanel": true}},
			`unknown option "per_chanel" in weights (did you mean "per_channel"?); valid options: dtype, group_size, per_channel, symmetric`},
		{map[string]any{"skp": "conv1"},
			`unknown option "skp" (did you mean "skip"?); valid options: activations, include, layer_types, layers, numerics, skip, weights`},
		{map[string]any{"colour": "red"},
			`unknown option "colour"; valid options: activations, include, layer_types, layers, numerics, skip, weights`},
		{map[string]any{"weights": map[string]any{"dtype": "int3"}},
			`option "weights.dtype": unknown dtype "int3" (did you mean "int8"?); valid dtypes: int8, uint8, int4, uint4, fp16, bf16, fp8_e4m3, fp8_e5m2`},
		{map[string]any{"weights": map[string]any{"per_channel": "yes"}}, `option "weights.per_channel": boolean expected, got string`},
		{map[string]any{"weights": map[string]any{"group_size": 1.5}}, `option "weights.group_size": integer expected, got 1.5`},
		{map[string]any{"weights": map[string]any{"group_size": -2.0}}, `option "weights.group_size": -2; want a positive size, 0 (default) or -1 (no groups)`},
		{map[string]any{"weights": map[string]any{"dtype": "fp16", "group_size": 32.0}}, `option "weights.group_size": dtype fp16 has no groups (it is per tensor or per channel)`},
		{map[string]any{"weights": "int8"}, `option "weights": table expected, got string`},
		{map[string]any{"layers": []any{"Linear", 3.0}}, `option "layers[2]": string expected, got number`},
		{map[string]any{"layers": []any{"Convv"}}, `option "layers": unknown layer type "Convv" (did you mean "Conv"?); valid types: Linear, Conv, Conv1d, Conv2d, Conv3d, Embedding, Norm, Gemm, MatMul`},
		{map[string]any{"skip": []any{"conv1", true}}, `option "skip[2]": layer name, glob or function expected, got boolean`},
		{map[string]any{"skip": 7.0}, `option "skip": layer name, glob or function expected, got number`},
		{map[string]any{"layer_types": map[string]any{"fc1": 1.0}}, `option "layer_types": layer "fc1": type name expected, got number`},
		{map[string]any{"layer_types": map[string]any{"fc1": "Dense"}}, `option "layer_types": layer "fc1": unknown layer type "Dense"; valid types: Linear, Conv, Conv1d, Conv2d, Conv3d, Embedding, Norm, Gemm, MatMul`},
		{map[string]any{"numerics": "tensorrt"}, `option "numerics": unknown numerics "tensorrt"; valid numerics: torch, onnxruntime`},
		{map[string]any{"dtype": "int4"},
			`unknown option "dtype" (did you mean "weights.dtype"?); valid options: activations, include, layer_types, layers, numerics, skip, weights`},
	}
	for _, c := range cases {
		_, _, err := modelOptions(c.m)
		if err == nil || err.Error() != c.err {
			t.Errorf("modelOptions(%v):\n got %v\nwant %s", c.m, err, c.err)
		}
	}
	var uoe *unknownOptionError
	_, _, err := modelOptions(map[string]any{"weights": map[string]any{"symetric": true}})
	if !errors.As(err, &uoe) || uoe.Table != "weights" || uoe.Key != "symetric" || uoe.Suggestion != "symmetric" {
		t.Errorf("%#v", err)
	}
}

func TestOptionPriority(t *testing.T) {
	config := map[string]any{"weights": map[string]any{"dtype": "int4", "symmetric": false}, "skip": []any{"conv1"}, "numerics": "onnxruntime"}
	call := map[string]any{"weights": map[string]any{"symmetric": true}, "skip": []any{"fc2"}}
	o, _, err := modelOptions(mergeOptions(call, config))
	if err != nil {
		t.Fatal(err)
	}
	want := quantize.WeightOptions{DType: "int4", Symmetric: true, PerChannel: true}
	if o.Weights != want || len(o.Skip) != 1 || o.Skip[0].Pattern != "fc2" || o.Numerics != quant.ORT {
		t.Errorf("merged: %+v", o)
	}
	if config["weights"].(map[string]any)["symmetric"] != false {
		t.Error("mergeOptions modified its input")
	}
	// An empty table (Lua's {}) is an empty list where a list is expected.
	if o, _, err := modelOptions(mergeOptions(map[string]any{"skip": map[string]any{}, "layers": map[string]any{}}, config)); err != nil || o.Skip == nil || len(o.Skip)+len(o.Types) != 0 {
		t.Errorf("empty lists: %+v, %v", o.Selection, err)
	}
}

func TestOptionKeysError(t *testing.T) {
	if err := optionKeysError("save", []string{"layout", "format"}, []string{"format", "layout", "metadata"}); err != nil {
		t.Error(err)
	}
	err := optionKeysError("save", []string{"metdata", "layout"}, []string{"metadata", "format", "layout"})
	if err == nil || err.Error() != `unknown option "metdata" in save (did you mean "metadata"?); valid options: format, layout, metadata` {
		t.Errorf("%v", err)
	}
}
