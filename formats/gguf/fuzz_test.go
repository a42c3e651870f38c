package gguf

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzGGUF opens arbitrary bytes and reads every tensor the header admits. It must never
// panic, whatever it accepts must lie inside the file, and what it reads must write back
// to a header that reads the same.
func FuzzGGUF(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.gguf")
	real, _ := filepath.Glob("testdata/real/*.gguf")
	for _, path := range append(seeds, real...) {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, ti := range gf.Tensors {
			s, err := gf.Section(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, s)
			if err != nil || uint64(n) != ti.Size {
				t.Fatalf("tensor %q: read %d of %d bytes: %v", ti.Name, n, ti.Size, err)
			}
		}
		header, placed, err := Layout(gf.KVs, gf.Tensors)
		if err != nil {
			t.Fatalf("Layout of an accepted file: %v", err)
		}
		if int64(len(header)) != gf.DataOffset {
			t.Fatalf("re-encoded header is %d bytes, the data was at %d", len(header), gf.DataOffset)
		}
		for i := range placed {
			if placed[i].Offset != gf.Tensors[i].Offset {
				t.Fatalf("tensor %q placed at %d, read at %d", placed[i].Name, placed[i].Offset, gf.Tensors[i].Offset)
			}
		}
		// Writing what was read and reading it again gives the same header (bools and
		// padding bytes may differ from the input, so compare the re-encodings).
		end := uint64(0)
		if n := len(placed); n > 0 {
			end = placed[n-1].Offset + placed[n-1].Size
		}
		again := append(header, make([]byte, end)...)
		g2, err := Open(bytes.NewReader(again), int64(len(again)))
		if err != nil {
			t.Fatalf("re-open of the re-encoded file: %v", err)
		}
		header2, _, err := Layout(g2.KVs, g2.Tensors)
		if err != nil || !bytes.Equal(header, header2) {
			t.Fatalf("re-encoding is not stable (%v)", err)
		}
	})
}
