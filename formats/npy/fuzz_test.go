package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		paths, _ := filepath.Glob(p)
		for _, path := range paths {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzNpy opens arbitrary bytes as .npy and loads the array. It must never panic, and an
// accepted array's data must fit in the input.
func FuzzNpy(f *testing.F) {
	addSeeds(f, "testdata/*.npy", "testdata/real/*.npy")
	f.Fuzz(func(t *testing.T, b []byte) {
		npyFile, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		tt, err := npyFile.Load("")
		if err != nil {
			t.Fatalf("Load after a successful Open: %v", err)
		}
		if len(tt.Data) > len(b) {
			t.Fatalf("%d data bytes from a %d-byte file", len(tt.Data), len(b))
		}
	})
}

// FuzzNpz opens arbitrary bytes as .npz and loads every member. It must never panic, and
// (with stored members bounded by the input and deflated ones by 1032:1) never allocate
// more than the ratio allows.
func FuzzNpz(f *testing.F) {
	addSeeds(f, "testdata/*.npz", "testdata/real/*.npz")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := OpenNPZ(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, info := range a.Tensors() {
			tt, err := a.Load(info.Name)
			if err != nil {
				continue // corrupt streams are found on Load; they must only not panic
			}
			if len(tt.Data) > (len(b)+1)*maxDeflateRatio {
				t.Fatalf("%d data bytes from a %d-byte archive", len(tt.Data), len(b))
			}
		}
	})
}
