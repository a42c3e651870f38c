package llamagguf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/gguf"
)

// golden is what scripts/fixtures/llama_folder.py --golden expects a converter to write at
// F32: llama.cpp's names, ggml dims, and the sha256 of each tensor's float32 bytes (q and k
// permuted by a port of convert_hf_to_gguf.py's LlamaModel.permute, for llama).
type golden struct {
	Tensors map[string]struct {
		Dims   []uint64
		SHA256 string
	}
	NVocab  int            `json:"n_vocab"`
	Special map[string]int `json:"special"`
}

func readGolden(t *testing.T, dir string) golden {
	var g golden
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestConvertGolden converts both fixture folders to F32 and checks every tensor's name,
// dims and bits, and the metadata llama.cpp reads.
func TestConvertGolden(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join("testdata", arch)
			g := readGolden(t, dir)
			out := filepath.Join(t.TempDir(), arch+".gguf")
			rep, err := Convert(context.Background(), filepath.Join(dir, "model"), out, Options{Type: "F32"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors) != len(g.Tensors) || len(rep.Tensors) != len(g.Tensors) {
				t.Errorf("%d tensors, golden has %d", len(f.Tensors), len(g.Tensors))
			}
			for _, ti := range f.Tensors {
				want, ok := g.Tensors[ti.Name]
				if !ok {
					t.Errorf("unexpected tensor %s", ti.Name)
					continue
				}
				data, err := io.ReadAll(must(f.Section(ti.Name)))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				if ti.Type != gguf.TypeF32 || !slices.Equal(ti.Dims, want.Dims) || hex.EncodeToString(sum[:]) != want.SHA256 {
					t.Errorf("%s: %s %v, data sha256 %x; want F32 %v %s", ti.Name, ti.Type, ti.Dims, sum[:4], want.Dims, want.SHA256[:8])
				}
			}
			checkMetadata(t, f, arch, g)
		})
	}
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

func checkMetadata(t *testing.T, f *gguf.File, arch string, g golden) {
	t.Helper()
	str := func(k string) string {
		v, _ := f.Get(k)
		return v.String()
	}
	want := map[string]string{
		"general.architecture": `"` + arch + `"`, "general.file_type": "0", "general.quantization_version": "2",
		arch + ".block_count": "2", arch + ".embedding_length": "32", arch + ".feed_forward_length": "64",
		arch + ".attention.head_count": "4", arch + ".attention.head_count_kv": "2", arch + ".context_length": "256",
		"tokenizer.ggml.model": `"gpt2"`, "tokenizer.ggml.eos_token_id": "407",
	}
	if arch == "llama" {
		want["llama.rope.freq_base"] = "500000"
		want["llama.attention.layer_norm_rms_epsilon"] = "1e-05"
		want["llama.vocab_size"] = "416"
		want["llama.rope.dimension_count"] = "8"
		want["tokenizer.ggml.pre"] = `"llama-bpe"`
		want["tokenizer.ggml.bos_token_id"] = "406"
		want["tokenizer.ggml.add_bos_token"] = "true"
	} else {
		want["qwen2.rope.freq_base"] = "1e+06"
		want["qwen2.attention.layer_norm_rms_epsilon"] = "1e-06"
		want["tokenizer.ggml.pre"] = `"qwen2"`
		want["tokenizer.ggml.padding_token_id"] = "408"
		want["tokenizer.ggml.add_bos_token"] = "false"
		want["tokenizer.ggml.bos_token_id"] = "406" // from config.json's bos_token_id
	}
	for k, v := range want {
		if got := str(k); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	tokens, _ := f.Get("tokenizer.ggml.tokens")
	types, _ := f.Get("tokenizer.ggml.token_type")
	merges, _ := f.Get("tokenizer.ggml.merges")
	toks := tokens.V.([]string)
	tt := types.V.([]int32)
	if len(toks) != g.NVocab || len(tt) != g.NVocab || merges.Len() != 150 {
		t.Fatalf("%d tokens, %d types, %d merges; want %d, %d, 150", len(toks), len(tt), merges.Len(), g.NVocab, g.NVocab)
	}
	for s, id := range g.Special {
		if toks[id] != s || tt[id] != tokControl {
			t.Errorf("token %d = %q type %d, want control token %q", id, toks[id], tt[id], s)
		}
	}
	if toks[g.NVocab-1] != "[PAD415]" || tt[g.NVocab-1] != tokUnused {
		t.Errorf("last token %q type %d, want [PAD415] unused", toks[g.NVocab-1], tt[g.NVocab-1])
	}
	if tmpl := str("tokenizer.chat_template"); tmpl == "" || tmpl == `""` {
		t.Error("no chat template")
	}
}
