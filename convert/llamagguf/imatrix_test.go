package llamagguf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/gguf"
)

// legacyDat builds a .dat file as llama-imatrix wrote it before its GGUF output.
func legacyDat(entries map[string][]float32, ncall int32, trailer bool) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, int32(len(entries)))
	for _, name := range []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight"} {
		v, ok := entries[name]
		if !ok {
			continue
		}
		binary.Write(&b, le, int32(len(name)))
		b.WriteString(name)
		binary.Write(&b, le, ncall)
		binary.Write(&b, le, int32(len(v)))
		binary.Write(&b, le, v)
	}
	if trailer {
		binary.Write(&b, le, int32(7))
		binary.Write(&b, le, int32(4))
		b.WriteString("wiki")
	}
	return b.Bytes()
}

func TestReadImatrix(t *testing.T) {
	dir := t.TempDir()
	dat := filepath.Join(dir, "m.dat")
	os.WriteFile(dat, legacyDat(map[string][]float32{"blk.0.attn_q.weight": {2, 4, 6}, "blk.0.ffn_down.weight": {1}}, 2, true), 0o644)
	m, err := ReadImatrix(dat)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Entries["blk.0.attn_q.weight"], []float32{1, 2, 3}) || !slices.Equal(m.Entries["blk.0.ffn_down.weight"], []float32{0.5}) {
		t.Errorf("legacy entries %v, want the sums divided by ncall", m.Entries)
	}

	// GGUF form: sums and counts per expert; a zero count gives weights of 1.
	path := filepath.Join(dir, "m.gguf")
	kvs := []gguf.KV{{Key: "imatrix.datasets", Value: gguf.Strs([]string{"wiki"})},
		{Key: "imatrix.chunk_count", Value: gguf.U32(3)}, {Key: "imatrix.chunk_size", Value: gguf.U32(512)}}
	infos := []gguf.TensorInfo{
		{Name: "blk.0.attn_q.weight.in_sum2", Type: gguf.TypeF32, Dims: []uint64{2, 2}},
		{Name: "blk.0.attn_q.weight.counts", Type: gguf.TypeF32, Dims: []uint64{1, 2}},
	}
	w, err := gguf.Create(path, kvs, infos)
	if err != nil {
		t.Fatal(err)
	}
	binary.Write(w, binary.LittleEndian, []float32{4, 8, 5, 5, 4, 0})
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m, err = ReadImatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Entries["blk.0.attn_q.weight"]; !slices.Equal(got, []float32{1, 2, 1, 1}) {
		t.Errorf("GGUF entry %v, want [1 2 1 1]", got)
	}
	if w, err := m.weights("blk.0.attn_q.weight", 3); err == nil {
		t.Errorf("4 weights for 3 columns accepted: %v", w)
	}
	if w, err := m.weights("token_embd.weight", 3); w != nil || err != nil {
		t.Errorf("missing entry: %v, %v; want none and no error", w, err)
	}

	bad := filepath.Join(dir, "bad.dat")
	os.WriteFile(bad, legacyDat(map[string][]float32{"blk.0.attn_q.weight": {1}}, 1, false)[:20], 0o644)
	if _, err := ReadImatrix(bad); err == nil {
		t.Error("a truncated .dat was accepted")
	}
}

// TestConvertErrors checks the refusals a user meets first.
func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures": ["GPT2LMHeadModel"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"), 0o644)
	_, err := Convert(t.Context(), dir, filepath.Join(dir, "out.gguf"), Options{Type: "Q8_0"})
	want := dir + ": architecture GPT2LMHeadModel is not supported; the converter reads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.gguf")); err == nil {
		t.Error("a file was written")
	}
}

// TestOverrideMatchingNothing: an override pattern that matches no tensor (a typo) is an
// error naming the closest tensors, before anything is written.
func TestOverrideMatchingNothing(t *testing.T) {
	o, err := ParseOverride("ffn_dwn=Q6_K")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.gguf")
	_, err = Convert(t.Context(), filepath.Join("testdata", "llama", "model"), out, Options{Type: "Q8_0", Overrides: []Override{o}})
	if err == nil || !strings.HasPrefix(err.Error(), "override ffn_dwn=Q6_K matches no tensor; tensors have llama.cpp's names (closest: ffn_down.weight") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a file was written")
	}
}
