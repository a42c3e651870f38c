package safetensors

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestWriteRangeEqualsWrite writes the same tensors whole (WriteFile) and in pieces out of
// order (WriteRange), through the page cache and with O_DIRECT, and requires the same file.
func TestWriteRangeEqualsWrite(t *testing.T) {
	dir := t.TempDir()
	a := tensor.New(tensor.F32, 300, 7)
	for i := range a.F32() {
		a.F32()[i] = float32(i) * 0.5
	}
	b := tensor.New(tensor.I8, 5)
	copy(b.I8(), []int8{1, -2, 3, -4, 5})
	tensors := map[string]*tensor.Tensor{"a": a, "b": b}
	infos := []tensor.Info{{Name: "b", DType: tensor.I8, Shape: []int{5}}, {Name: "a", DType: tensor.F32, Shape: []int{300, 7}}}
	meta := map[string]string{"format": "pt"}
	want := filepath.Join(dir, "whole.safetensors")
	if err := WriteFile(context.Background(), want, infos, meta, func(n string) (*tensor.Tensor, error) { return tensors[n], nil }); err != nil {
		t.Fatal(err)
	}
	wantData, _ := os.ReadFile(want)
	for _, direct := range []bool{false, true} {
		path := filepath.Join(dir, "pieces.safetensors")
		w, err := Create(path, infos, meta)
		if err != nil {
			t.Fatal(err)
		}
		if direct && !w.Direct() {
			t.Log("no O_DIRECT on this filesystem")
		}
		data := a.Data
		for _, cut := range [][2]int{{4000, len(data)}, {0, 1000}, {1000, 4000}} {
			if err := w.WriteRange("a", int64(cut[0]), data[cut[0]:cut[1]]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Write("b", b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, wantData) {
			t.Fatalf("direct=%v: pieces give another file", direct)
		}
	}
}

// TestWriteRangeRefuses: pieces outside the tensor, a tensor written both ways, a short
// tensor at Close.
func TestWriteRangeRefuses(t *testing.T) {
	infos := []tensor.Info{{Name: "a", DType: tensor.U8, Shape: []int{10}}, {Name: "b", DType: tensor.U8, Shape: []int{2}}}
	w, err := Create(filepath.Join(t.TempDir(), "x.safetensors"), infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.WriteRange("a", 8, make([]byte, 3)); !errors.Is(err, ErrWrite) {
		t.Errorf("piece past the end: %v", err)
	}
	if err := w.WriteRange("zz", 0, nil); !errors.Is(err, ErrWrite) {
		t.Errorf("unknown tensor: %v", err)
	}
	if err := w.WriteRange("a", 0, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("a", tensor.New(tensor.U8, 10)); !errors.Is(err, ErrWrite) {
		t.Errorf("whole after a piece: %v", err)
	}
	if err := w.Write("b", tensor.New(tensor.U8, 2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrWrite) {
		t.Errorf("Close with a short tensor: %v", err)
	}
}
