package plan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/convert/llamagguf"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/llm"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/static"
)

const models = "../examples/models/"

// copyModel copies an example model into a temporary folder, so that a save that should
// have been refused cannot damage it, and opens the copy.
func copyModel(t *testing.T, name string) (*formats.File, []byte) {
	t.Helper()
	b, err := os.ReadFile(models + name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, b
}

func weightOnly(t *testing.T, name string) (*WeightOnly, []byte) {
	t.Helper()
	f, b := copyModel(t, name)
	wp, err := quantize.PlanWeights(context.Background(), f, quantize.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return &WeightOnly{WeightPlan: wp, Input: f, InputName: name}, b
}

func staticPlan(t *testing.T) (*Static, []byte) {
	t.Helper()
	f, b := copyModel(t, "digits_cnn.onnx")
	ctx := context.Background()
	prep, err := static.Prepare(ctx, f, quantize.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.LoadONNX(prep.File())
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(models + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Samples: 8, Observer: "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := prep.Plan(ctx, cal)
	if err != nil {
		t.Fatal(err)
	}
	return &Static{Plan: sp, Input: f}, b
}

// TestSaveRefusals: the checks Save makes once for every writer, with their messages.
func TestSaveRefusals(t *testing.T) {
	wst, stBytes := weightOnly(t, "digits_cnn.safetensors")
	wonnx, onnxBytes := weightOnly(t, "digits_cnn.onnx")
	sp, spBytes := staticPlan(t)
	fake := SaveOptions{SaveOptions: quantize.SaveOptions{Layout: quantize.LayoutFake}}
	out := filepath.Join(t.TempDir(), "x.onnx")
	for _, c := range []struct {
		name string
		p    Plan
		path string
		o    SaveOptions
		want string
		keep []byte // the input, unchanged
	}{
		{"weight-only over its input", wst, wst.Input.Path, SaveOptions{},
			"save " + wst.Input.Path + ": that is the input model; write to another path", stBytes},
		{"weight-only ONNX over its input", wonnx, wonnx.Input.Path, SaveOptions{},
			"save " + wonnx.Input.Path + ": that is the input model; write to another path", onnxBytes},
		{"static over its input", sp, sp.Input.Path, SaveOptions{},
			"save " + sp.Input.Path + ": that is the input model; write to another path", spBytes},
		{"static as safetensors over its input", sp, sp.Input.Path, SaveOptions{SaveOptions: quantize.SaveOptions{Format: "safetensors"}},
			"save " + sp.Input.Path + ": that is the input model; write to another path", spBytes},
		{"ONNX of a checkpoint", wst, out, fake,
			"save x.onnx: ONNX output needs an ONNX input model; digits_cnn.safetensors is safetensors (qscript does not export graphs from checkpoints): save as .safetensors or .pt", nil},
		{"layout of a weight-only ONNX", wonnx, out, fake, `save x.onnx: layout "fake" applies to safetensors and .pt outputs, not to ONNX`, nil},
		{"layout of a QDQ ONNX", sp, out, fake, `save x.onnx: layout "fake" applies to safetensors and .pt outputs, not to ONNX QDQ`, nil},
		{"GGUF", wst, "m.gguf", SaveOptions{}, `"m.gguf": qs.save does not write GGUF; qs.gguf.convert (recipes/gguf.lua) converts a Hugging Face folder to GGUF`, nil},
		{"unknown extension", wst, "m.txt", SaveOptions{}, `cannot tell the format of "m.txt" from its extension (.safetensors, .pt, .pth, .bin, .onnx); pass {format = "safetensors"} (to a built-in recipe: format=safetensors)`, nil},
	} {
		err := c.p.Save(context.Background(), c.path, c.o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %s", c.name, err, c.want)
		}
		if c.keep != nil {
			if b, _ := os.ReadFile(c.path); !bytes.Equal(b, c.keep) {
				t.Errorf("%s: the input changed", c.name)
			}
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused save wrote x.onnx")
	}
}

// TestWritersByPlan: each format goes to the writer of the plan's kind, and a weight-only
// ONNX output's report stands for the plan's until a .pth save.
func TestWritersByPlan(t *testing.T) {
	ctx, dir := context.Background(), t.TempDir()
	w, _ := weightOnly(t, "digits_cnn.onnx")
	sp, _ := staticPlan(t)
	for _, c := range []struct {
		p         Plan
		path, has string
	}{{w, "w.onnx", "ConvInteger"}, {w, "w.pth", "PK"}, {sp, "s.onnx", `"format":"onnx-qdq"`}} {
		path := filepath.Join(dir, c.path)
		if err := c.p.Save(ctx, path, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		r, err := c.p.Report(ctx)
		if err != nil || r.Output != path || !bytes.Contains(b, []byte(c.has)) {
			t.Errorf("%s: report output %q (%v), holds %q: %v", c.path, r.Output, err, c.has, bytes.Contains(b, []byte(c.has)))
		}
	}
}

// TestFolderAndGGUF: the folder and GGUF writers of the table, their per-layer schemes and
// their refusals (the GGUF input, a file qscript did not write; a folder's input).
func TestFolderAndGGUF(t *testing.T) {
	ctx, dir, src := context.Background(), t.TempDir(), "../convert/llamagguf/testdata/llama/model"
	gp, err := llamagguf.Plan(src, llamagguf.Options{Type: "Q8_0", QuantizedBy: "qscript test"})
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	hfp, err := hf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer hfp.Close()
	lp, err := llm.Plan(hfp, llm.Options{Scheme: "W8A16"})
	if err != nil {
		t.Fatal(err)
	}
	g, f := &GGUF{Planned: gp}, &Folder{Planned: lp}
	os.WriteFile(filepath.Join(dir, "mine.gguf"), []byte("x"), 0o644)
	var refused *RefusedError
	if err := g.Save(ctx, filepath.Join(dir, "mine.gguf"), SaveOptions{}); !errors.As(err, &refused) || !strings.Contains(err.Error(), "not written by qscript") {
		t.Errorf("GGUF over a file qscript did not write: %v", err)
	}
	if err := g.Save(ctx, filepath.Join(src, "x.gguf"), SaveOptions{}); !errors.As(err, &refused) {
		t.Errorf("GGUF inside its input folder: %v", err)
	}
	if err := f.Save(ctx, src, SaveOptions{}); err == nil || !strings.Contains(err.Error(), "input") {
		t.Errorf("folder over its input: %v", err)
	}
	for _, p := range []Plan{g, f} {
		if err := p.Save(ctx, filepath.Join(dir, "out"+p.Scheme()), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := p.Report(ctx)
		s := p.Schemes()
		if err != nil || len(s) == 0 || len(s) != r.Totals.Quantized {
			t.Errorf("%s: %d layers in Schemes, report %v", p.Scheme(), len(s), err)
		}
	}
	sp, _ := staticPlan(t)
	if r, _ := sp.Report(ctx); len(sp.Schemes()) != r.Totals.Quantized {
		t.Errorf("static: %d layers in Schemes, %d quantized in the report", len(sp.Schemes()), r.Totals.Quantized)
	}
}
