package formats

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestOpenGGUF opens a file written by llama.cpp's gguf-py, with and without its extension.
func TestOpenGGUF(t *testing.T) {
	src := "gguf/testdata/real/gguf-py.gguf"
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{src, blob} {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Format != "GGUF" {
			t.Errorf("%s: format %q", path, f.Format)
		}
		s := Summarize(f)
		got := []string{}
		for _, ts := range s.Tensors {
			got = append(got, ts.Name+" "+ts.DType+" "+formatInts(ts.Shape)+" "+formatInts([]int{int(ts.Bytes)}))
		}
		want := []string{"a.f32 F32 3,5 60", "b.f16 F16 2,4 16", "c.q8_0 Q8_0 2,64 136"}
		if !slices.Equal(got, want) {
			t.Errorf("%s: tensors %q, want %q", path, got, want)
		}
		if s.Metadata["general.architecture"] != "llama" || s.Metadata["t.strings"] != `[3 × string] "a", "", "ü"` {
			t.Errorf("%s: metadata %q", path, s.Metadata)
		}
		a, err := f.Load("a.f32")
		if err != nil || a.DType != tensor.F32 || !slices.Equal(a.Shape, []int{3, 5}) {
			t.Errorf("%s: Load(a.f32) = %v, %v", path, a, err)
		}
		// Q8_0 dequantized: d·q per block of 32, d the fp16 at the block's start.
		q, err := f.Load("c.q8_0")
		if err != nil || q.DType != tensor.F32 || !slices.Equal(q.Shape, []int{2, 64}) {
			t.Fatalf("%s: Load(c.q8_0) = %v, %v", path, q, err)
		}
		gf := f.Model.(*ggufModel).f
		raw := make([]byte, 34)
		if _, err := must(gf.Section("c.q8_0")).ReadAt(raw, 0); err != nil {
			t.Fatal(err)
		}
		d := tensor.F16ToF32(uint16(raw[0]) | uint16(raw[1])<<8)
		if got, want := q.F32()[1], d*float32(int8(raw[3])); got != want {
			t.Errorf("%s: dequantized element 1 = %v, want %v", path, got, want)
		}
		f.Close()
	}
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

func formatInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
