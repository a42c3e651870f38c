package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzONNX feeds arbitrary bytes to the reader, with testdata as the model folder so that
// external data references resolve against real files. It must never panic, and every
// listed tensor must load or fail with an error.
func FuzzONNX(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.onnx")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, "testdata")
		if err != nil {
			return
		}
		defer m.Close()
		for _, info := range m.Tensors() {
			if tt, err := m.Load(info.Name); err == nil && tt.Nbytes() != len(tt.Data) {
				t.Fatalf("%s: %d bytes for %v %v", info.Name, len(tt.Data), tt.DType, tt.Shape)
			}
		}
		_ = m.Metadata()
	})
}
