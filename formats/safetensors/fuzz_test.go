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
