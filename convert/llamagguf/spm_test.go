package llamagguf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// spmModel encodes a SentencePiece ModelProto holding the given pieces (field 1), with a
// trainer_spec (field 2) the reader must skip.
func spmModel(pieces []spmPiece, withType []bool) []byte {
	var out []byte
	out = append(out, 0x12, 2, 0x08, 1) // trainer_spec {model_type: 1}
	for i, p := range pieces {
		var m []byte
		m = append(m, 0x0a)
		m = binary.AppendUvarint(m, uint64(len(p.piece)))
		m = append(m, p.piece...)
		m = append(m, 0x15)
		m = binary.LittleEndian.AppendUint32(m, math.Float32bits(p.score))
		if withType[i] {
			m = append(m, 0x18)
			m = binary.AppendUvarint(m, uint64(p.typ))
		}
		out = append(out, 0x0a)
		out = binary.AppendUvarint(out, uint64(len(m)))
		out = append(out, m...)
	}
	return out
}

func TestSentencePieceModel(t *testing.T) {
	dir := t.TempDir()
	pieces := []spmPiece{{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}, {"<0x0A>", 0, 6}, {"▁the", -1.5, 1}, {"x", -2, 4}}
	os.WriteFile(filepath.Join(dir, "tokenizer.model"), spmModel(pieces, []bool{true, true, true, true, false, true}), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"add_prefix_space": false, "added_tokens_decoder": {"7": {"content": "<|im|>", "special": false}}}`), 0o644)
	kvs, err := vocabKVs(dir, &hparams{arch: "llama", vocab: 8}, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]any{}
	for _, kv := range kvs {
		byKey[kv.Key] = kv.Value.V
	}
	wantTokens := []string{"<unk>", "<s>", "</s>", "<0x0A>", "▁the", "x", "[PAD6]", "<|im|>"}
	wantScores := []float32{0, 0, 0, 0, -1.5, -2, -10000, -1000}
	wantTypes := []int32{tokUnknown, tokControl, tokControl, tokByte, tokNormal, tokNormal, tokUnused, tokControl}
	if byKey["tokenizer.ggml.add_space_prefix"] != false {
		t.Errorf("add_space_prefix %v, want false from add_prefix_space", byKey["tokenizer.ggml.add_space_prefix"])
	}
	if byKey["tokenizer.ggml.model"] != "llama" || !slices.Equal(byKey["tokenizer.ggml.tokens"].([]string), wantTokens) ||
		!slices.Equal(byKey["tokenizer.ggml.scores"].([]float32), wantScores) || !slices.Equal(byKey["tokenizer.ggml.token_type"].([]int32), wantTypes) {
		t.Errorf("got %v", byKey)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.model"), []byte{0x0a, 0x7f, 1}, 0o644)
	if _, err := vocabKVs(dir, &hparams{vocab: 8}, map[string]any{}); err == nil {
		t.Error("a truncated tokenizer.model was accepted")
	}
}
