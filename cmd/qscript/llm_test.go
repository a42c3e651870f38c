package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

// llamaFolder writes a two-layer Llama-like folder (bf16, one file) for the CLI tests.
func llamaFolder(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	var infos []tensor.Info
	add := func(name string, shape ...int) {
		infos = append(infos, tensor.Info{Name: name, DType: tensor.BF16, Shape: shape})
	}
	add("model.embed_tokens.weight", 32, 128)
	for i := range 2 {
		p := fmt.Sprintf("model.layers.%d.", i)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "o_proj"} {
			add(p+"self_attn."+n+".weight", 128, 128)
		}
		add(p+"mlp.gate_proj.weight", 256, 128)
		add(p+"mlp.up_proj.weight", 256, 128)
		add(p+"mlp.down_proj.weight", 128, 256)
		add(p+"input_layernorm.weight", 128)
	}
	add("lm_head.weight", 32, 128)
	w, err := safetensors.Create(filepath.Join(dir, "model.safetensors"), infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, info := range infos {
		n, _ := tensor.Numel(info.Shape)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((i*7+k)%23-11) / 64
		}
		if err := w.Write(info.Name, tensor.FromF32To(tensor.BF16, info.Shape, v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}`), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{}`), 0o644)
}

// TestLLMRecipe runs recipes/llm.lua as a user would: overrides and ignore entries parsed
// from the command line, shards, quiet output, and a second run refused.
func TestLLMRecipe(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	llamaFolder(t, in)
	code, stdout, stderr := runCLI(t, "-q", "recipes/llm.lua", "model="+in, "out="+out, "scheme=W4A16", "group_size=64",
		"override=re:.*down_proj=W8A16;re:.*[qkv]_proj,re:.*o_proj=FP8_DYNAMIC", "ignore=model.layers.1.mlp.down_proj",
		"max_shard_size=100KB")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "worst") || !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout %s", stdout)
	}
	var cfg struct {
		Q struct {
			Format string                     `json:"format"`
			Groups map[string]json.RawMessage `json:"config_groups"`
			Ignore []string                   `json:"ignore"`
		} `json:"quantization_config"`
	}
	data, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Q.Format != "mixed-precision" || len(cfg.Q.Groups) != 3 || strings.Join(cfg.Q.Ignore, ",") != "lm_head,model.layers.1.mlp.down_proj" {
		t.Errorf("config %s", data)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors.index.json")); err != nil {
		t.Errorf("no index for several shards: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "tokenizer.json")); string(b) != "{}" {
		t.Error("tokenizer.json not copied")
	}
	code, _, stderr = runCLI(t, "-q", "recipes/llm.lua", "model="+in, "out="+out)
	if code == exitOK || !strings.Contains(stderr, "overwrite=true") {
		t.Errorf("second run: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "-q", "recipes/llm.lua", "model="+in, "out="+out, "scheme=W8A8", "overwrite=true")
	if code != exitOK {
		t.Errorf("overwrite: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "recipes/llm.lua", "model="+in, "out="+filepath.Join(root, "x"), "override=re:.*dwn_proj=W8A16")
	if code == exitOK || !strings.Contains(stderr, "matches no module") || !strings.Contains(stderr, "down_proj") {
		t.Errorf("typo: exit %d, %s", code, stderr)
	}
}

// TestRecipeOutNames: llm.lua's out= is a folder and gguf.lua's a .gguf file; a name meant
// for the other is refused before any work.
func TestRecipeOutNames(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	llamaFolder(t, in)
	for _, c := range []struct{ args []string }{
		{[]string{"recipes/llm.lua", "model=" + in, "out=" + filepath.Join(root, "m.safetensors")}},
		{[]string{"recipes/gguf.lua", "model=" + in, "out=" + filepath.Join(root, "m.safetensors")}},
	} {
		code, _, stderr := runCLI(t, append([]string{"-q"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, "argument out="+filepath.Join(root, "m.safetensors")+": ") {
			t.Errorf("%v: exit %d, %s", c.args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "m.safetensors")); err == nil {
		t.Error("an output was written")
	}
}

// TestWeightOnlyRecipesRefuseGGUF: the recipes that write safetensors, .pt or .onnx refuse
// a .gguf model as a usage error that points to recipes/gguf.lua (requantizing for
// llama.cpp) and recipes/llm.lua, and write nothing: GGUF tensors (llama.cpp's names, Q/K
// permuted, often quantized) would load in no framework.
func TestWeightOnlyRecipesRefuseGGUF(t *testing.T) {
	root := t.TempDir()
	in := "../../convert/llamagguf/testdata/llama/model"
	model := filepath.Join(root, "m.F16.gguf")
	if code, _, stderr := runCLI(t, "-q", "recipes/gguf.lua", "model="+in, "out="+model, "type=F16"); code != exitOK {
		t.Fatalf("gguf.lua: exit %d, %s", code, stderr)
	}
	for _, recipe := range []string{"int8_dynamic", "int4_weight_only", "fp16", "bf16", "int8_static"} {
		out := filepath.Join(root, recipe+".safetensors")
		code, _, stderr := runCLI(t, "-q", "recipes/"+recipe+".lua", "model="+model, "out="+out)
		want := "builtin:recipes/" + recipe + ".lua:"
		if code != exitUsage || !strings.Contains(stderr, want) ||
			!strings.Contains(stderr, "argument model="+model+": a .gguf file is llama.cpp's format") ||
			!strings.Contains(stderr, "recipes/gguf.lua model="+model+" type=Q4_K_M") {
			t.Errorf("%s: exit %d, %s", recipe, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: an output was written", recipe)
		}
	}
}
