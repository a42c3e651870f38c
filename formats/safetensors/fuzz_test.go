package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSafetensors opens arbitrary bytes and loads every tensor the header admits. It must
// never panic, and whatever it accepts must obey the layout rules.
func FuzzSafetensors(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.safetensors")
	real, _ := filepath.Glob("testdata/real/*.safetensors")
	for _, path := range append(seeds, real...) {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var total int64
		for _, info := range sf.Tensors() {
			tt, err := sf.Load(info.Name)
			if err != nil {
				t.Fatalf("Load(%q) after a successful Open: %v", info.Name, err)
			}
			total += int64(len(tt.Data))
		}
		if total > int64(len(b)) {
			t.Fatalf("tensors hold %d bytes in a %d-byte file", total, len(b))
		}
	})
}

// FuzzShardedIndex opens an arbitrary index file beside two valid shards and loads every
// tensor it admits. It must never panic, and every tensor must come from a shard's checked
// header.
func FuzzShardedIndex(f *testing.F) {
	dir := "testdata/real/sharded"
	if b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"weight_map": {"a": "../escape.safetensors"}}`))
	f.Add([]byte(`{"metadata": {"total_size": 1}, "weight_map": {"a": "model-00001-of-00002.safetensors", "a ": "x"}}`))
	shards, _ := filepath.Glob(filepath.Join(dir, "model-*.safetensors"))
	f.Fuzz(func(t *testing.T, index []byte) {
		tmp := t.TempDir()
		for _, s := range shards {
			b, err := os.ReadFile(s)
			if err != nil {
				t.Skip(err)
			}
			if err := os.WriteFile(filepath.Join(tmp, filepath.Base(s)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(tmp, "model.safetensors.index.json")
		if err := os.WriteFile(path, index, 0o644); err != nil {
			t.Fatal(err)
		}
		sh, err := OpenIndex(path)
		if err != nil {
			return
		}
		defer sh.Close()
		for _, info := range sh.Tensors() {
			if _, err := sh.Load(info.Name); err != nil {
				t.Fatalf("Load(%q) after a successful OpenIndex: %v", info.Name, err)
			}
		}
	})
}
