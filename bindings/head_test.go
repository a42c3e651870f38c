package bindings_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

// writeCausalLM writes a tiny Llama-like model.safetensors into dir and, when cfg is not
// "", config.json beside it.
func writeCausalLM(t *testing.T, dir, cfg string) {
	t.Helper()
	shapes := map[string][]int{"model.embed_tokens.weight": {32, 32}, "model.layers.0.mlp.up_proj.weight": {32, 32},
		"lm_head.weight": {32, 32}, "model.norm.weight": {32}}
	var infos []tensor.Info
	for n, s := range shapes {
		infos = append(infos, tensor.Info{Name: n, DType: tensor.F32, Shape: s})
	}
	load := func(n string) (*tensor.Tensor, error) {
		x := tensor.New(tensor.F32, shapes[n]...)
		for i := range x.F32() {
			x.F32()[i] = float32(i%11)/8 - 0.6
		}
		return x, nil
	}
	if err := safetensors.WriteFile(context.Background(), filepath.Join(dir, "model.safetensors"), infos, nil, load); err != nil {
		t.Fatal(err)
	}
	if cfg != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The weight-only recipes keep a causal LM's lm_head in float unless include= names it;
// without a config.json they quantize it as before.
func TestRecipesKeepOutputHead(t *testing.T) {
	const llama = `{"architectures": ["LlamaForCausalLM"], "vocab_size": 32, "tie_word_embeddings": false}`
	for _, c := range []struct {
		name, cfg, include string
		headQuantized      bool
	}{
		{"causal LM", llama, "", false},
		{"causal LM, include=lm_head", llama, "lm_head,model.layers.*", true},
		{"no config.json", "", "", true},
		{"not a causal LM", `{"architectures": ["LlamaModel"]}`, "", true},
	} {
		for _, recipe := range []string{"int8_dynamic", "int4_weight_only"} {
			dir := t.TempDir()
			writeCausalLM(t, dir, c.cfg)
			args := map[string]string{"model": "model.safetensors", "out": "out/q.safetensors"}
			if recipe == "int4_weight_only" {
				args["group_size"] = "16"
			}
			if c.include != "" {
				args["include"] = c.include
			}
			_, out, err := runRecipe(t, dir, "recipes/"+recipe+".lua", args)
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", c.name, recipe, err, out)
			}
			got := dtypes(openOutput(t, filepath.Join(dir, "out", "q.safetensors")))
			isQuantized := func(layer string) bool {
				_, packed := got[layer+".weight_packed"]
				return got[layer+".weight"] == tensor.I8 || packed
			}
			if q := isQuantized("lm_head"); q != c.headQuantized {
				t.Errorf("%s %s: lm_head quantized=%v, want %v (%v)", c.name, recipe, q, c.headQuantized, got)
			}
			if !isQuantized("model.layers.0.mlp.up_proj") {
				t.Errorf("%s %s: up_proj not quantized: %v", c.name, recipe, got)
			}
			why := "output head of LlamaForCausalLM stays in full precision; name it in include to quantize it"
			if strings.Contains(out, why) == c.headQuantized {
				t.Errorf("%s %s: report says %q: %v, want %v\n%s", c.name, recipe, why, !c.headQuantized, c.headQuantized, out)
			}
		}
	}
}
