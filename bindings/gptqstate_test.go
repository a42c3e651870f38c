package bindings_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/tensor"
)

// TestQuantizeStateDictGPTQ: qs.quantize of a state dict with method = "gptq", graph =
// its ONNX export and calib = data writes codes other than round to nearest's, and says
// per layer how GPTQ compared on held-out samples (onnxquant's TestGPTQStateDict checks
// the codes themselves).
func TestQuantizeStateDictGPTQ(t *testing.T) {
	root := absRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"model.pt", "model.onnx"} {
		b, err := os.ReadFile(filepath.Join(root, "onnxquant/testdata/gptq_sd", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 96*4*32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	cf, err := os.Create(filepath.Join(dir, "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := npy.Encode(cf, tensor.FromF32([]int{96, 4, 32}, x)); err != nil {
		t.Fatal(err)
	}
	cf.Close()
	recipe := filepath.Join(dir, "r.lua")
	src := `local qs = require "qs"
local m = qs.load("model.pt")
local opts = {weights = {dtype = "int4", group_size = 16}}
qs.save(qs.quantize(m, opts), "rtn.safetensors")
opts.method, opts.graph, opts.calib, opts.samples, opts.heldout = "gptq", "model.onnx", qs.data.npy("calib.npy"), 64, 32
local q = qs.quantize(m, opts)
qs.save(q, "gptq.safetensors")
for _, w in ipairs(q:warnings()) do print(w) end
`
	if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, printed, err := runRecipe(t, dir, recipe, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	for _, l := range []string{"gptq: layer fc1 on 32 held-out samples", "gptq: layer fc2 on 32 held-out samples"} {
		if !strings.Contains(printed, l) {
			t.Errorf("printed no %q:\n%s", l, printed)
		}
	}
	rtn := openOutput(t, filepath.Join(dir, "rtn.safetensors"))
	gq := openOutput(t, filepath.Join(dir, "gptq.safetensors"))
	a, err := rtn.Load("fc1.weight_packed")
	if err != nil {
		t.Fatal(err)
	}
	b, err := gq.Load("fc1.weight_packed")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.I32(), b.I32()) {
		t.Errorf("GPTQ wrote round to nearest's codes")
	}
}

// TestQuantizeStateDictGPTQErrors: the GPTQ options' mistakes are named.
func TestQuantizeStateDictGPTQErrors(t *testing.T) {
	root := absRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"model.pt", "model.onnx"} {
		b, err := os.ReadFile(filepath.Join(root, "onnxquant/testdata/gptq_sd", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []struct{ opts, want string }{
		{`method = "gptq", calib = qs.tensor({1, 2})`, `needs graph = "model.onnx"`},
		{`method = "gptq", graph = "model.onnx"`, "needs calib = data"},
		{`method = "gtpq"`, `"gtpq" is not a method`},
		{`method = "gptq", graph = "model.pt", calib = qs.tensor({1, 2})`, "not an ONNX model"},
		{`method = "gptq", graph = "model.onnx", calib = qs.tensor({1, 2}), weights = {dtype = "fp16"}`, "integer weight scheme"},
	} {
		recipe := filepath.Join(dir, fmt.Sprintf("e%d.lua", i))
		src := "local qs = require \"qs\"\nqs.quantize(qs.load(\"model.pt\"), {" + c.opts + "})\n"
		if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, printed, err := runRecipe(t, dir, recipe, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("{%s}: error %v, want %q\n%s", c.opts, err, c.want, printed)
		}
	}
}
