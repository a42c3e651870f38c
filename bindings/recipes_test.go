package bindings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/bindings"
	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/tensor"
)

// runRecipe runs a recipe the way `qscript RECIPE key=value...` does, in a host whose
// working folder is dir, and returns the result and what it printed.
func runRecipe(t *testing.T, dir, recipe string, args map[string]string) (host.Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	h, err := host.New(host.Options{Dir: dir, Stdout: &out, Stderr: &out, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.RunFile(context.Background(), recipe, args)
	return res, out.String(), err
}

func openOutput(t *testing.T, path string) *formats.File {
	t.Helper()
	f, err := formats.Open(path)
	if err != nil {
		t.Fatalf("output: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func dtypes(f *formats.File) map[string]tensor.DType {
	out := map[string]tensor.DType{}
	for _, info := range f.Tensors() {
		out[info.Name] = info.DType
	}
	return out
}

// TestBuiltinRecipes runs every built-in recipe end to end on the example models.
func TestBuiltinRecipes(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		recipe string
		args   map[string]string
		check  func(t *testing.T, f *formats.File)
	}{
		{"recipes/fp16.lua", nil, func(t *testing.T, f *formats.File) {
			d := dtypes(f)
			if d["fc1.weight"] != tensor.F16 || d["bn1.running_var"] != tensor.F16 || d["bn1.num_batches_tracked"] != tensor.I64 {
				t.Errorf("dtypes %v", d)
			}
		}},
		{"recipes/bf16.lua", map[string]string{"format": "pt"}, func(t *testing.T, f *formats.File) {
			if d := dtypes(f); d["conv1.weight"] != tensor.BF16 || f.Format != "PyTorch .pt" {
				t.Errorf("%s: dtypes %v", f.Format, d)
			}
		}},
		{"recipes/int8_dynamic.lua", map[string]string{"skip": "first_conv,last_linear"}, func(t *testing.T, f *formats.File) {
			d := dtypes(f)
			if d["conv1.weight"] != tensor.F32 || d["fc2.weight"] != tensor.F32 || d["fc1.weight"] != tensor.I8 || d["fc1.weight_scale"] != tensor.F32 {
				t.Errorf("dtypes %v", d)
			}
			var rec struct {
				Quantized []string `json:"layers_quantized"`
				Skipped   []struct {
					Name, Reason string
				} `json:"layers_skipped"`
			}
			if err := json.Unmarshal([]byte(f.Metadata()["quantization"]), &rec); err != nil {
				t.Fatalf("quantization record: %v", err)
			}
			if strings.Join(rec.Quantized, ",") != "conv2,conv3,fc1" || len(rec.Skipped) != 3 || rec.Skipped[0].Name != "conv1" {
				t.Errorf("record: quantized %v, skipped %v", rec.Quantized, rec.Skipped)
			}
		}},
		{"recipes/int8_dynamic.lua", map[string]string{"layout": "fake", "model": "examples/models/digits_cnn.safetensors"}, func(t *testing.T, f *formats.File) {
			if d := dtypes(f); d["fc1.weight"] != tensor.F32 || len(d) != 15 {
				t.Errorf("fake layout: dtypes %v", d)
			}
		}},
		{"recipes/int4_weight_only.lua", nil, func(t *testing.T, f *formats.File) {
			if d := dtypes(f); d["fc1.weight_packed"] != tensor.I32 || d["fc1.weight_shape"] != tensor.I64 || d["conv1.weight"] != tensor.F32 {
				t.Errorf("dtypes %v", d)
			}
		}},
		{"recipes/int8_static.lua", map[string]string{"samples": "50", "observer": "minmax", "per_channel": "false"}, func(t *testing.T, f *formats.File) {
			if f.Format != "ONNX" || !strings.Contains(f.Metadata()["quantization"], "minmax") {
				t.Errorf("format %s, metadata %v", f.Format, f.Metadata())
			}
		}},
	}
	for i, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c.recipe), ".lua")
		t.Run(name, func(t *testing.T) {
			args := map[string]string{}
			for k, v := range c.args {
				args[k] = v
			}
			ext := ".safetensors"
			switch {
			case name == "int8_static":
				ext = ".onnx"
			case args["format"] == "pt":
				ext = ".pt"
			}
			out := filepath.Join(tmp, name+string(rune('a'+i))+ext)
			args["out"] = out
			res, printed, err := runRecipe(t, repoRoot, c.recipe, args)
			if err != nil {
				t.Fatalf("%v\n%s", err, printed)
			}
			if !strings.Contains(printed, "totals") || !strings.Contains(printed, "wrote "+out) {
				t.Errorf("output lacks the report or the written path:\n%s", printed)
			}
			v, _ := res.Value().(map[string]any)
			if v["output"] != out {
				t.Errorf("returned %v, want output %s", v, out)
			}
			c.check(t, openOutput(t, out))
		})
	}
}

// TestInt8StaticWithoutArguments is the README's first command: no arguments, run from a
// folder holding examples/models.
func TestInt8StaticWithoutArguments(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(filepath.Join(repoRoot, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(dir, "examples")); err != nil {
		t.Skip("no symlinks:", err)
	}
	res, printed, err := runRecipe(t, dir, "recipes/int8_static.lua", nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	for _, want := range []string{"skipped: skip list (/conv1/Conv)", "histogram(l2)", "evaluation on 360 samples", "top-1 agreement", "wrote digits_cnn.int8.onnx"} {
		if !strings.Contains(printed, want) {
			t.Errorf("output lacks %q:\n%s", want, printed)
		}
	}
	v := res.Value().(map[string]any)
	fa, qa := v["float_accuracy"].(float64), v["quant_accuracy"].(float64)
	// ONNX Runtime measured 97.78% for the float model (docs/example-models.md).
	if fa < 0.9777 || fa > 0.9778 || qa < fa-0.01 {
		t.Errorf("accuracy float %v, quantized %v", fa, qa)
	}
	openOutput(t, filepath.Join(dir, "digits_cnn.int8.onnx"))
}

// TestInt8StaticWithoutConv checks the default skip on a model with no Conv: nothing is
// left in float, and a note on stderr says why, unless quiet (an explicit skip=first_conv is
// an error, in TestRecipeErrors).
func TestInt8StaticWithoutConv(t *testing.T) {
	const note = "note: the model has no Conv layer, so every layer is quantized"
	for _, quiet := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		h, err := host.New(host.Options{Dir: repoRoot, Stdout: &stdout, Stderr: &stderr, Quiet: quiet})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "encoder.int8.onnx")
		res, err := h.RunFile(context.Background(), "recipes/int8_static.lua", map[string]string{
			"model": "examples/models/encoder_block_op17.onnx", "calib": "examples/models/encoder_calib.npy", "out": out})
		h.Close()
		if err != nil {
			t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
		}
		if got := strings.Contains(stderr.String(), note); got == quiet {
			t.Errorf("quiet %v: stderr has the note: %v, stdout %q:\n%s", quiet, got, stdout.String(), stderr.String())
		}
		if strings.Contains(stdout.String(), "note:") {
			t.Errorf("quiet %v: a note on stdout:\n%s", quiet, stdout.String())
		}
		v := res.Value().(map[string]any)
		if v["skipped"] != 0 || v["quantized"] != 6 {
			t.Errorf("returned %v, want 6 quantized and 0 skipped", v)
		}
	}
}

// TestRecipeErrors checks that mistakes in arguments and options stop the recipe with an
// error at the recipe's file:line, naming the cause, and leave no output behind.
func TestRecipeErrors(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out.safetensors")
	cases := []struct {
		recipe string
		args   map[string]string
		want   []string
	}{
		{"recipes/int8_dynamic.lua", map[string]string{"layout": "fak"},
			[]string{"builtin:recipes/int8_dynamic.lua:", "bad argument #3 to 'save' (option 'layout': unknown value \"fak\" (did you mean \"fake\"?)"}},
		{"recipes/int8_dynamic.lua", map[string]string{"skip": "conv9"},
			[]string{"builtin:recipes/int8_dynamic.lua:", "bad argument #2 to 'quantize' (skip: no layer named \"conv9\" (similar layers: conv1, conv2, conv3"}},
		{"recipes/int8_dynamic.lua", map[string]string{"model": "nothere.pt"},
			[]string{"builtin:recipes/int8_dynamic.lua:", "argument model=nothere.pt: no such file: nothere.pt"}},
		{"recipes/int8_dynamic.lua", map[string]string{"skp": "conv1"},
			[]string{"unknown argument 'skp' (did you mean 'skip'?)"}},
		{"recipes/int8_static.lua", map[string]string{"samples": "many"},
			[]string{"builtin:recipes/int8_static.lua:", "argument samples: a positive integer expected, got many"}},
		{"recipes/int8_static.lua", map[string]string{"observer": "histo", "out": filepath.Join(tmp, "x.onnx")},
			[]string{"option 'activations.observer': unknown value \"histo\" (did you mean \"histogram\"?)"}},
		{"recipes/int8_static.lua", map[string]string{"model": "examples/models/digits_cnn.pt"},
			[]string{"needs an ONNX model"}},
		{"recipes/int8_dynamic.lua", map[string]string{"report": "r.txt"},
			[]string{"builtin:recipes/int8_dynamic.lua:", "argument report=r.txt: the report is written as .html or .json"}},
		{"recipes/int8_static.lua", map[string]string{"calib": "5"},
			[]string{"builtin:recipes/int8_static.lua:", "argument calib: a file path expected, got 5"}},
		{"recipes/int8_static.lua", map[string]string{"eval": "nothere.npz"},
			[]string{"builtin:recipes/int8_static.lua:", "argument eval=nothere.npz: no such file: nothere.npz"}},
		{"recipes/int8_static.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "calib": "examples/models/encoder_calib.npy", "skip": "first_conv"},
			[]string{"builtin:recipes/int8_static.lua:", "argument skip: first_conv: the model has no Conv layer"}},
	}
	for _, c := range cases {
		args := map[string]string{"out": out}
		for k, v := range c.args {
			args[k] = v
		}
		_, printed, err := runRecipe(t, repoRoot, c.recipe, args)
		var herr *host.Error
		if !errors.As(err, &herr) || herr.Line == 0 {
			t.Errorf("%s %v: error %v has no file:line (%s)", c.recipe, c.args, err, printed)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v:\nerror %s\nlacks %s", c.recipe, c.args, err, w)
			}
		}
		if _, serr := os.Stat(args["out"]); serr == nil {
			t.Errorf("%s %v: output %s left behind", c.recipe, c.args, args["out"])
		}
	}
}

// TestUserRecipeErrors checks errors raised by qs functions from a recipe on disk: the
// message carries the recipe's own file:line and the failing call.
func TestUserRecipeErrors(t *testing.T) {
	dir := t.TempDir()
	model, _ := filepath.Abs(filepath.Join(repoRoot, "examples/models/digits_cnn.pt"))
	cases := []struct{ src, want string }{
		{`local m = qs.load(MODEL)
local q = qs.quantize(m, {weights = {per_chanel = true}})`,
			`recipe.lua:3: bad argument #2 to 'quantize' (unknown option "per_chanel" in weights (did you mean "per_channel"?); valid options: dtype, group_size, per_channel, symmetric)`},
		{`local m = qs.load(MODEL)
qs.quantize(m, nil, 3)
qs.quantize(m, 42)`, `recipe.lua:4: bad argument #2 to 'quantize' (table expected, got number)`},
		{`local m = qs.load("missing.safetensors")`, `recipe.lua:2: bad argument #1 to 'load' (no such file: missing.safetensors)`},
		{`local m = qs.load(MODEL)
qs.save(qs.quantize(m), "out.safetensors", {metadata = {epochs = 40}})`,
			`recipe.lua:3: bad argument #3 to 'save' (option 'metadata': value of "epochs" must be a string, got number (use tostring))`},
		{`local m = qs.load(MODEL)
qs.save(qs.quantize(m), "out.gguf")`,
			`recipe.lua:3: bad argument #2 to 'save' ("out.gguf": qs.save does not write GGUF; qs.gguf.convert (recipes/gguf.lua) converts a Hugging Face folder to GGUF)`},
		{`qs.save(qs.quantize(qs.load(MODEL)), "out.txt")`,
			`recipe.lua:2: bad argument #2 to 'save' (cannot tell the format of "out.txt" from its extension (.safetensors, .pt, .pth, .bin, .onnx); pass {format = "safetensors"} (to a built-in recipe: format=safetensors))`},
		{`qs.gguf.convert(MODEL, "out.gguf")`,
			"recipe.lua:2: bad argument #1 to 'convert' (" + model + " is neither a Hugging Face model folder nor a GGUF file)"},
	}
	for _, c := range cases {
		src := "local qs = require \"qs\"\n" + strings.ReplaceAll(c.src, "MODEL", `"`+model+`"`)
		if err := os.WriteFile(filepath.Join(dir, "recipe.lua"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := runRecipe(t, dir, "recipe.lua", nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("error\n%v\nwant\n%s", err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.safetensors")); err == nil {
		t.Error("a failed save left out.safetensors")
	}
}

// TestSaveCreatesFolders checks that qs.save and r:json create the output's missing
// folders (recipes cannot create them), and that a save that fails removes them again.
func TestSaveCreatesFolders(t *testing.T) {
	dir := t.TempDir()
	model, _ := filepath.Abs(filepath.Join(repoRoot, "examples/models/digits_cnn.pt"))
	src := `local qs = require "qs"
local q = qs.quantize(qs.load(arg.model))
qs.save(q, "out/int8/model.safetensors")
q:report():json("reports/r.json")
local f8 = qs.quantize(qs.load(arg.model), {weights = {dtype = "fp8_e4m3"}})
local ok, err = pcall(qs.save, f8, "failed/sub/f8.pt")
return ok, err`
	if err := os.WriteFile(filepath.Join(dir, "recipe.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, printed, err := runRecipe(t, dir, "recipe.lua", map[string]string{"model": model})
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	if ok, _ := res.Values[0].(bool); ok || !strings.Contains(res.Values[1].(string), "cannot hold") {
		t.Errorf("fp8 saved as .pt: %v", res.Values)
	}
	for _, p := range []string{"out/int8/model.safetensors", "reports/r.json"} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "failed")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed save left its folder behind: %v", err)
	}
}

// TestRerunPrintsChanges is watch mode's "what changed since the last run": the same host
// runs a recipe twice with a different skip list.
func TestRerunPrintsChanges(t *testing.T) {
	var out bytes.Buffer
	h, err := host.New(host.Options{Dir: repoRoot, Stdout: &out, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	src := `local qs = require "qs"
local m = qs.load("examples/models/digits_cnn.pt")
print(qs.quantize(m, {skip = {arg.skip}}):report())`
	ctx := context.Background()
	if _, err := h.RunString(ctx, "watched.lua", src, map[string]string{"skip": "conv1"}); err != nil {
		t.Fatal(err)
	}
	if first := out.String(); strings.Contains(first, "changes since last run") {
		t.Errorf("first run reports changes:\n%s", first)
	}
	out.Reset()
	if _, err := h.RunString(ctx, "watched.lua", src, map[string]string{"skip": "fc2"}); err != nil {
		t.Fatal(err)
	}
	second := out.String()
	i := strings.Index(second, "changes since last run:")
	if i < 0 {
		t.Fatalf("rerun does not say what changed:\n%s", second)
	}
	changes := second[i:]
	for _, want := range []string{"conv1", "fc2"} {
		if !strings.Contains(changes, want) {
			t.Errorf("changes lack %s:\n%s", want, changes)
		}
	}
	out.Reset()
	if _, err := h.RunString(ctx, "watched.lua", src, map[string]string{"skip": "fc2"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "changes since last run: none") {
		t.Errorf("an unchanged rerun should say none:\n%s", out.String())
	}
}

// TestExamples runs the example recipes in examples/ from the repository root.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".lua"), func(t *testing.T) {
			tmp := t.TempDir()
			args := map[string]string{"out": filepath.Join(tmp, "out.safetensors"), "report": filepath.Join(tmp, "r.html")}
			if name != "custom_int8.lua" {
				args = nil
			}
			res, printed, err := runRecipe(t, repoRoot, "examples/"+name, args)
			if err != nil {
				t.Fatalf("%v\n%s", err, printed)
			}
			if res.Value() == nil {
				t.Errorf("%s returned nothing; output:\n%s", name, printed)
			}
		})
	}
}

// TestCachesSurviveReruns checks what watch mode relies on: a rerun in the same host
// reuses the loaded model and the calibration, and a changed option calibrates again.
func TestCachesSurviveReruns(t *testing.T) {
	h, err := host.New(host.Options{Dir: repoRoot, Quiet: true, Stdout: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	src := `local qs = require "qs"
local m = qs.load("examples/models/digits_cnn.onnx")
local cal = qs.calibrate(m, qs.data.npy("examples/models/calib.npy"), {samples = arg.samples})
local q = qs.quantize(m, {activations = {calibrate = qs.data.npy("examples/models/calib.npy"), samples = arg.samples}, skip = {arg.skip}})
return m, cal, q:report().totals.skipped`
	run := func(args map[string]string) []any {
		t.Helper()
		res, err := h.RunString(context.Background(), "cached.lua", src, args)
		if err != nil {
			t.Fatal(err)
		}
		return res.Values
	}
	a := run(map[string]string{"samples": "30", "skip": "/conv1/Conv"})
	b := run(map[string]string{"samples": "30", "skip": "/fc2/Gemm"})
	c := run(map[string]string{"samples": "31", "skip": "/fc2/Gemm"})
	ma, mb := a[0].(*bindings.LoadedModel), b[0].(*bindings.LoadedModel)
	if ma.File != mb.File {
		t.Error("the rerun opened the model again")
	}
	if a[1] != b[1] {
		t.Error("a rerun that changed only the skip list calibrated again")
	}
	if b[1] == c[1] {
		t.Error("a rerun with another sample count reused the old calibration")
	}
	if got := c[1].(*calib.Result).Samples; got != 31 {
		t.Errorf("calibrated %d samples, want 31", got)
	}
}
