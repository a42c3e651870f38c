package llamagguf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/gguf"
)

// TestSentencePieceStyleVocab: a Llama 2 / Mistral tokenizer.json (BPE with byte fallback and
// a Sequence decoder) becomes the "llama" model with gguf-py LlamaHfVocab's scores and types.
func TestSentencePieceStyleVocab(t *testing.T) {
	dir := t.TempDir()
	tok := `{"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
	  {"id": 2, "content": "</s>", "special": true}, {"id": 7, "content": "<extra>", "special": false}],
	 "model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "▁the": 4, "▁a": 5}, "merges": ["▁ t"]},
	 "decoder": {"type": "Sequence"}, "pre_tokenizer": null,
	 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]}}`
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tok), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"bos_token": "<s>", "eos_token": {"content": "</s>"}, "unk_token": "<unk>", "add_eos_token": false}`), 0o644)
	kvs, err := vocabKVs(dir, &hparams{vocab: 9}, map[string]any{"pad_token_id": json.Number("0")})
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) gguf.Value {
		for _, kv := range kvs {
			if kv.Key == k {
				return kv.Value
			}
		}
		t.Fatalf("no %s", k)
		return gguf.Value{}
	}
	if m, _ := get("tokenizer.ggml.model").Text(); m != "llama" {
		t.Errorf("model %q", m)
	}
	tokens := get("tokenizer.ggml.tokens").V.([]string)
	types := get("tokenizer.ggml.token_type").V.([]int32)
	scores := get("tokenizer.ggml.scores").V.([]float32)
	wantTokens := []string{"<unk>", "<s>", "</s>", "<0x0A>", "▁the", "▁a", "[PAD6]", "<extra>", "[PAD8]"}
	wantTypes := []int32{tokControl, tokControl, tokControl, tokByte, tokNormal, tokNormal, tokUnused, tokUserDefined, tokUnused}
	if !slices.Equal(tokens, wantTokens) || !slices.Equal(types, wantTypes) || scores[4] != -1000 {
		t.Errorf("tokens %q types %v scores %v", tokens, types, scores)
	}
	for k, want := range map[string]string{"tokenizer.ggml.bos_token_id": "1", "tokenizer.ggml.eos_token_id": "2",
		"tokenizer.ggml.unknown_token_id": "0", "tokenizer.ggml.padding_token_id": "0",
		"tokenizer.ggml.add_bos_token": "true", "tokenizer.ggml.add_eos_token": "false"} {
		if got := get(k).String(); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
}

func TestPreTokenizerAndMerges(t *testing.T) {
	gpt2, err := preTokenizer(json.RawMessage(`{"type": "ByteLevel", "add_prefix_space": false}`))
	if err != nil || gpt2 != "gpt-2" {
		t.Errorf("GPT-2's ByteLevel: %q, %v", gpt2, err)
	}
	_, err = preTokenizer(json.RawMessage(`{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}}, {"type": "ByteLevel", "use_regex": false}]}`))
	if err == nil || !strings.Contains(err.Error(), `pre-tokenizer \s+ is not one the converter knows`) {
		t.Errorf("unknown regex: %v", err)
	}
	m, err := parseMerges(json.RawMessage(`[["a b", "c"], ["Ġ", "x"]]`))
	if err != nil || !slices.Equal(m, []string{"aĠb c", "Ġ x"}) {
		t.Errorf("pair merges: %q, %v", m, err)
	}
}
