package hf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"
	"github.com/qscript-dev/qscript/tensor"
)

func writeST(t *testing.T, path string, names ...string) {
	t.Helper()
	var infos []tensor.Info
	for _, n := range names {
		infos = append(infos, tensor.Info{Name: n, DType: tensor.F32, Shape: []int{2, 2}})
	}
	w, err := safetensors.Create(path, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := w.Write(n, tensor.FromF32([]int{2, 2}, []float32{1, 2, 3, 4})); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSingleAndSharded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ConfigName), `{"architectures": ["LlamaForCausalLM"], "x": 1.0e-05}`)
	writeST(t, filepath.Join(dir, SafetensorsName), "model.embed_tokens.weight", "lm_head.weight")
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !f.IsCausalLM() || f.TiedEmbeddings() || len(f.Tensors()) != 2 || f.Weights != SafetensorsName {
		t.Fatalf("causal %v tied %v tensors %d weights %s", f.IsCausalLM(), f.TiedEmbeddings(), len(f.Tensors()), f.Weights)
	}
	if n := f.Config["x"]; n.(interface{ String() string }).String() != "1.0e-05" {
		t.Fatalf("number text changed: %v", n)
	}
	f.Close()

	dir2 := t.TempDir()
	writeFile(t, filepath.Join(dir2, ConfigName), `{"architectures": ["LlamaForCausalLM"]}`)
	writeST(t, filepath.Join(dir2, "model-00001-of-00002.safetensors"), "a.weight")
	writeST(t, filepath.Join(dir2, "model-00002-of-00002.safetensors"), "model.embed_tokens.weight")
	writeFile(t, filepath.Join(dir2, SafetensorsIndexName), `{"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "model.embed_tokens.weight": "model-00002-of-00002.safetensors"}}`)
	f, err = Open(dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{SafetensorsIndexName, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	if !slices.Equal(f.WeightFiles, want) || !f.TiedEmbeddings() {
		t.Fatalf("weight files %v tied %v", f.WeightFiles, f.TiedEmbeddings())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("no config: %v", err)
	}
	writeFile(t, filepath.Join(dir, ConfigName), `{}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Fatalf("no weights: %v", err)
	}
	writeFile(t, filepath.Join(dir, ConfigName), `[1]`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Fatalf("bad config: %v", err)
	}
	writeFile(t, filepath.Join(dir, ConfigName), `{}`)
	writeFile(t, filepath.Join(dir, PytorchIndexName), `{"weight_map": {"a": "../x.bin"}}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a file name") {
		t.Fatalf("escaping shard: %v", err)
	}
}

func TestOpenBinIndex(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ConfigName), `{"architectures": ["GPT2LMHeadModel"]}`)
	for i, names := range [][]string{{"a.weight", "b.weight"}, {"c.weight"}} {
		w, err := torch.Create(filepath.Join(dir, fmt.Sprintf("pytorch_model-0000%d-of-00002.bin", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := w.Add(n, tensor.FromF32([]int{2, 2}, []float32{1, 2, 3, 4})); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, PytorchIndexName), `{"weight_map": {"a.weight": "pytorch_model-00001-of-00002.bin", "b.weight": "pytorch_model-00001-of-00002.bin", "c.weight": "pytorch_model-00002-of-00002.bin"}}`)
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Tensors()) != 3 || f.IsCausalLM() || len(f.WeightFiles) != 3 {
		t.Fatalf("tensors %v, weight files %v", f.Tensors(), f.WeightFiles)
	}
	c, err := f.Load("c.weight")
	if err != nil || c.ToF32()[3] != 4 {
		t.Fatalf("c.weight: %v %v", c, err)
	}
	// A shard that holds a tensor the index puts elsewhere is refused.
	writeFile(t, filepath.Join(dir, PytorchIndexName), `{"weight_map": {"a.weight": "pytorch_model-00002-of-00002.bin", "b.weight": "pytorch_model-00001-of-00002.bin", "c.weight": "pytorch_model-00002-of-00002.bin"}}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "index puts it in") {
		t.Fatalf("inconsistent index: %v", err)
	}
}
