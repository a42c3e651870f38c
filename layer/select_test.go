package layer

import (
	"errors"
	"slices"
	"testing"
)

func selected(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Selected {
			out = append(out, d.Layer.Name)
		}
	}
	return out
}

func TestSelect(t *testing.T) {
	layers, err := List(openModel(t, examplePT), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := OfType(layers, "Conv")[0]
	cases := []struct {
		name string
		sel  Selection
		want []string
	}{
		{"default", Selection{}, []string{"conv1", "conv2", "conv3", "fc1", "fc2"}},
		{"skip first conv", Selection{Skip: Names(first.Name)}, []string{"conv2", "conv3", "fc1", "fc2"}},
		{"skip by weight name", Selection{Skip: Names("fc2.weight")}, []string{"conv1", "conv2", "conv3", "fc1"}},
		{"linear only", Selection{Types: []string{"Linear"}}, []string{"fc1", "fc2"}},
		{"conv2d", Selection{Types: []string{"conv2d"}}, []string{"conv1", "conv2", "conv3"}},
		{"norm too", Selection{Types: []string{"Norm", "Linear"}}, []string{"bn1", "fc1", "fc2"}},
		{"glob star", Selection{Skip: Names("conv*")}, []string{"fc1", "fc2"}},
		{"glob class", Selection{Skip: Names("conv[12]")}, []string{"conv3", "fc1", "fc2"}},
		{"glob question", Selection{Include: Names("fc?")}, []string{"fc1", "fc2"}},
		{"glob double star", Selection{Include: Names("**2")}, []string{"conv2", "fc2"}},
		{"regex", Selection{Skip: Names("re:conv[12]")}, []string{"conv3", "fc1", "fc2"}},
		{"regex from the start", Selection{Include: Names(`re:fc\d\.weight$`)}, []string{"fc1", "fc2"}},
		{"shortcut", Selection{Skip: Names("first_conv", "last_linear")}, []string{"conv2", "conv3", "fc1"}},
		{"include shortcut", Selection{Include: Names("last_conv", "first_linear")}, []string{"conv3", "fc1"}},
		{"include and skip", Selection{Include: Names("fc*", "conv3"), Skip: Names("fc1")}, []string{"conv3", "fc2"}},
		{"predicate", Selection{Skip: []Matcher{Predicate("small", func(l Layer) bool { return l.Shape[0] < 32 })}},
			[]string{"conv2", "conv3", "fc1"}},
		{"include predicate", Selection{Include: []Matcher{{Func: func(l Layer) bool { return l.Index >= 4 }}}},
			[]string{"fc1", "fc2"}},
	}
	for _, c := range cases {
		ds, err := Select(layers, c.sel)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := selected(ds); !slices.Equal(got, c.want) {
			t.Errorf("%s: selected %v, want %v", c.name, got, c.want)
		}
	}
	ds, _ := Select(layers, Selection{Skip: append(Names("first_conv", "re:conv3"), Predicate("big", func(l Layer) bool { return l.Name == "fc1" })),
		Include: Names("conv*", "fc1")})
	reasons := map[string]string{}
	for _, d := range ds {
		reasons[d.Layer.Name] = d.Reason
	}
	want := map[string]string{"conv1": "skip: conv1", "bn1": "type Norm not selected", "conv2": "", "conv3": "skip: re:conv3",
		"fc1": "skip: predicate big", "fc2": "not in include"}
	for k, v := range want {
		if reasons[k] != v {
			t.Errorf("reason of %s = %q, want %q", k, reasons[k], v)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	layers, err := List(openModel(t, examplePT), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sel Selection
		err string
	}{
		{Selection{Skip: Names("conv4")}, `skip: no layer named "conv4" (similar layers: conv1, conv2, conv3)`},
		{Selection{Skip: Names("fc_1")}, `skip: no layer named "fc_1" (similar layers: fc1, fc2)`},
		{Selection{Include: Names("conv")}, `include: no layer named "conv" (similar layers: conv1, conv2, conv3)`},
		{Selection{Skip: Names("decoder.layers.0")}, `skip: no layer named "decoder.layers.0" (the model's layers: conv1, bn1, conv2, conv3, fc1, fc2)`},
		{Selection{Skip: Names("encoder.*")}, `skip: pattern "encoder.*" matches no layer (the model's layers: conv1, bn1, conv2, conv3, fc1, fc2)`},
		{Selection{Skip: Names("")}, `skip: empty layer name`},
		{Selection{Skip: Names("conv[1")}, `skip: pattern "conv[1": malformed glob: unterminated [`},
		{Selection{Skip: Names("re:onv1")}, `skip: pattern "re:onv1" matches no layer (the model's layers: conv1, bn1, conv2, conv3, fc1, fc2)`},
		{Selection{Include: Names("re:fc(")}, "include: pattern \"re:fc(\": not a regular expression Go can run: error parsing regexp: missing closing ): `^(?:fc()`"},
		{Selection{Types: []string{"Lineer"}}, `layers: unknown layer type "Lineer" (did you mean "Linear"?); valid types: Linear, Conv, Conv1d, Conv2d, Conv3d, Embedding, Norm, Gemm, MatMul`},
		{Selection{Include: Names("bn1")}, `include: layer "bn1" has type Norm, which is not in layers {Linear, Conv}; add "Norm" to layers`},
	}
	for _, c := range cases {
		_, err := Select(layers, c.sel)
		if err == nil || err.Error() != c.err {
			t.Errorf("Select(%+v):\n got %v\nwant %s", c.sel, err, c.err)
		}
	}
	var une *UnknownNameError
	_, err = Select(layers, Selection{Skip: Names("fc3")})
	if !errors.As(err, &une) || une.Name != "fc3" || !slices.Equal(une.Similar, []string{"fc1", "fc2"}) {
		t.Errorf("error %#v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a.b.c", true},
		{"encoder.*.attn", "encoder.layer.3.attn", true},
		{"encoder.*.attn", "encoder.layer.3.attn.out", false},
		{"encoder.**.attn*", "encoder.layer.3.attn.out", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[!a]b", "cb", true},
		{"[^a]b", "ab", false},
		{"l[0-9]", "l7", true},
		{"l[0-9]", "lx", false},
		{"[]]", "]", true},
		{"*.weight", "fc1.weight", true},
		{"", "", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
	}
	for _, c := range cases {
		got, err := globMatch(c.pattern, c.name)
		if err != nil || got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, %v", c.pattern, c.name, got, err)
		}
	}
	if _, err := globMatch("a[b", "x"); err == nil {
		t.Error("unterminated class accepted")
	}
}

// TestMatchesONNXNodes: an ONNX node is picked by its name, its weight's name or that
// name's prefix; a MatMul of two activations only by its name.
func TestMatchesONNXNodes(t *testing.T) {
	conv := Layer{Name: "/conv2/Conv", Weight: "conv2.weight"}
	act := Layer{Name: "/fc/MatMul", Weight: "x", WeightIsActivation: true}
	for _, c := range []struct {
		pattern string
		l       Layer
		want    bool
	}{
		{"/conv2/Conv", conv, true}, {"conv2.weight", conv, true}, {"conv2", conv, true},
		{"conv*", conv, true}, {"/conv?/*", conv, true}, {"conv3", conv, false},
		{"x", act, false}, {"/fc/*", act, true}, {"", act, false},
		{`re:conv2\.w`, conv, true}, {"re:onv2", conv, false}, {"re:/fc/M", act, true}, {"re:x", act, false},
	} {
		if got, err := (Matcher{Pattern: c.pattern}).Matches(c.l); got != c.want || err != nil {
			t.Errorf("%q on %s: %v, %v; want %v", c.pattern, c.l.Name, got, err, c.want)
		}
	}
}

// TestShortcut: a shortcut names the first or last layer of its type; a layer that bears
// the shortcut's name wins in Select.
func TestShortcut(t *testing.T) {
	layers := []Layer{{Name: "a", Type: "Conv2d"}, {Name: "b", Type: "Linear"}, {Name: "c", Type: "Conv1d"}, {Name: "d", Type: "Linear"}}
	for name, want := range map[string]string{"first_conv": "a", "last_conv": "c", "first_linear": "b", "last_linear": "d"} {
		if l, ok, err := Shortcut(layers, name); l.Name != want || !ok || err != nil {
			t.Errorf("%s: %s, %v, %v; want %s", name, l.Name, ok, err, want)
		}
	}
	if _, ok, err := Shortcut(layers, "a"); ok || err != nil {
		t.Errorf("a plain name: %v, %v", ok, err)
	}
	named := append(layers, Layer{Name: "first_conv", Type: "Conv2d"})
	ds, err := Select(named, Selection{Skip: Names("first_conv")})
	if err != nil || ds[0].Reason != "" || ds[4].Reason != "skip: first_conv" {
		t.Errorf("a layer named first_conv: %v, %+v", err, ds)
	}
	_, err = Select(layers[1:2], Selection{Include: Names("first_conv")})
	if err == nil || err.Error() != "include: first_conv: the model has no Conv layer" {
		t.Errorf("no Conv layer: %v", err)
	}
}
