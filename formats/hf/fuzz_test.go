package hf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzFolder feeds arbitrary config.json and pytorch_model.bin.index.json texts to Open:
// errors are fine, panics and hangs are not.
func FuzzFolder(f *testing.F) {
	f.Add([]byte(`{"architectures": ["LlamaForCausalLM"], "tie_word_embeddings": true}`), []byte(`{"weight_map": {"a": "x.bin"}}`))
	f.Add([]byte(`{}`), []byte(`{"weight_map": {"a": "../x.bin", "b": "/etc/passwd"}}`))
	f.Add([]byte(`[`), []byte(`{"weight_map": null}`))
	f.Fuzz(func(t *testing.T, config, index []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ConfigName), config, 0o644)
		os.WriteFile(filepath.Join(dir, PytorchIndexName), index, 0o644)
		if m, err := Open(dir); err == nil {
			m.Architectures()
			m.IsCausalLM()
			m.TiedEmbeddings()
			m.Close()
		}
	})
}
