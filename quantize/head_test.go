package quantize

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// causalLM writes a small Llama-like checkpoint (with lm_head unless tied) and, when cfg
// is not "", a config.json beside it; it returns the checkpoint's path.
func causalLM(t *testing.T, cfg string, tied bool) string {
	t.Helper()
	dir := t.TempDir()
	w := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32(i%7) - 3
		}
		return x
	}
	ts := map[string]*tensor.Tensor{
		"model.embed_tokens.weight":         w(16, 8),
		"model.layers.0.mlp.up_proj.weight": w(8, 8),
		"model.norm.weight":                 w(8),
	}
	if !tied {
		ts["lm_head.weight"] = w(16, 8)
	}
	path := filepath.Join(dir, "model.safetensors")
	writeSafetensors(t, path, ts)
	if cfg != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

const llamaConfig = `{"architectures": ["LlamaForCausalLM"], "vocab_size": 16, "tie_word_embeddings": %s}`

func llamaCfg(tied bool) string {
	if tied {
		return strings.Replace(llamaConfig, "%s", "true", 1)
	}
	return strings.Replace(llamaConfig, "%s", "false", 1)
}

// decisionsOf plans path with opts and returns each layer's decision by name.
func decisionsOf(t *testing.T, path string, opts Options) (map[string]layer.Decision, *WeightPlan) {
	t.Helper()
	q, err := PlanWeights(context.Background(), openModel(t, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]layer.Decision{}
	for _, d := range q.Decisions() {
		out[d.Layer.Name] = d
	}
	return out, q
}

func TestOutputHeadOfCausalLM(t *testing.T) {
	path := causalLM(t, llamaCfg(false), false)
	for _, dtype := range []string{DTypeInt8, DTypeInt4, DTypeFP8E4M3} {
		opts := DefaultOptions()
		opts.Weights.DType = dtype
		opts.Weights.GroupSize = 0
		if dtype == DTypeInt4 {
			opts.Weights.GroupSize = -1
		}
		ds, q := decisionsOf(t, path, opts)
		head := ds["lm_head"]
		want := "output head of LlamaForCausalLM stays in full precision; name it in include to quantize it"
		if head.Selected || head.Reason != want {
			t.Errorf("%s: lm_head selected=%v reason %q, want skipped: %q", dtype, head.Selected, head.Reason, want)
		}
		if !ds["model.layers.0.mlp.up_proj"].Selected {
			t.Errorf("%s: up_proj not selected: %s", dtype, ds["model.layers.0.mlp.up_proj"].Reason)
		}
		r, err := q.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.Layers {
			if l.Name == "lm_head" && (l.Quantized || l.Reason != want) {
				t.Errorf("%s: report lists lm_head as quantized=%v %q", dtype, l.Quantized, l.Reason)
			}
		}
	}

	// A glob or a type does not ask for the head; its exact name in include does.
	opts := DefaultOptions()
	opts.Include = layer.Names("*")
	if ds, _ := decisionsOf(t, path, opts); ds["lm_head"].Selected {
		t.Error(`include = {"*"} quantized lm_head`)
	}
	for _, name := range []string{"lm_head", "lm_head.weight"} {
		opts.Include = layer.Names(name, "model.layers.*")
		ds, q := decisionsOf(t, path, opts)
		if !ds["lm_head"].Selected || !ds["model.layers.0.mlp.up_proj"].Selected {
			t.Errorf("include %s: lm_head selected=%v (%s)", name, ds["lm_head"].Selected, ds["lm_head"].Reason)
		}
		out := filepath.Join(t.TempDir(), "out.safetensors")
		if err := q.Save(context.Background(), out, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		got, _ := loadAll(t, out)
		if x := got["lm_head.weight"]; x == nil || x.DType != tensor.I8 || got["lm_head.weight_scale"] == nil {
			t.Errorf("include %s: lm_head.weight saved as %v, want int8 codes and a scale", name, x)
		}
	}
	// skip still wins.
	opts.Include, opts.Skip = layer.Names("lm_head", "model.layers.*"), layer.Names("lm_head")
	if ds, _ := decisionsOf(t, path, opts); ds["lm_head"].Selected || ds["lm_head"].Reason != "skip: lm_head" {
		t.Errorf("lm_head in include and skip: selected=%v %q", ds["lm_head"].Selected, ds["lm_head"].Reason)
	}
}

func TestOutputHeadTiedEmbedding(t *testing.T) {
	path := causalLM(t, llamaCfg(true), true)
	opts := DefaultOptions()
	opts.Types = []string{layer.TypeLinear, layer.TypeEmbedding}
	ds, _ := decisionsOf(t, path, opts)
	emb := ds["model.embed_tokens"]
	if emb.Selected || !strings.Contains(emb.Reason, "tied to the output head of LlamaForCausalLM (tie_word_embeddings)") {
		t.Errorf("tied embedding selected=%v reason %q", emb.Selected, emb.Reason)
	}
	opts.Include = layer.Names("model.embed_tokens", "model.layers.*")
	if ds, _ := decisionsOf(t, path, opts); !ds["model.embed_tokens"].Selected {
		t.Errorf("embedding named in include not selected: %s", ds["model.embed_tokens"].Reason)
	}
}

// Without a causal LM's config.json the selection is what it always was.
func TestOutputHeadWithoutConfig(t *testing.T) {
	for name, cfg := range map[string]string{
		"no config":   "",
		"not causal":  `{"architectures": ["LlamaModel"], "vocab_size": 16}`,
		"no arch key": `{"vocab_size": 16}`,
	} {
		ds, q := decisionsOf(t, causalLM(t, cfg, false), DefaultOptions())
		if !ds["lm_head"].Selected {
			t.Errorf("%s: lm_head not selected: %s", name, ds["lm_head"].Reason)
		}
		if w := q.Warnings(); len(w) > 0 {
			t.Errorf("%s: warnings %q", name, w)
		}
	}
	// A cast converts the head with the rest of the model.
	opts := DefaultOptions()
	opts.Weights.DType = DTypeFP16
	if ds, _ := decisionsOf(t, causalLM(t, llamaCfg(false), false), opts); !ds["lm_head"].Selected {
		t.Errorf("fp16 cast: lm_head not selected: %s", ds["lm_head"].Reason)
	}
	// An unreadable config.json protects nothing and says so.
	ds, q := decisionsOf(t, causalLM(t, `{"architectures": [`, false), DefaultOptions())
	if !ds["lm_head"].Selected || len(q.Warnings()) != 1 || !strings.Contains(q.Warnings()[0], "config.json") {
		t.Errorf("broken config.json: lm_head selected=%v, warnings %q", ds["lm_head"].Selected, q.Warnings())
	}
}
