package torch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestRewriteFixtures reads each torch-written fixture, writes it back with Write and
// compares what the new file holds with torch's expected values.
func TestRewriteFixtures(t *testing.T) {
	dir := t.TempDir()
	for name, want := range readManifest(t) {
		src, err := Open(filepath.Join("testdata", name+".pt"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, info := range src.Tensors() {
			names = append(names, info.Name)
		}
		out := filepath.Join(dir, name+".pt")
		if err := Write(context.Background(), out, names, src.Load); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		src.Close()

		back, err := Open(out)
		if err != nil {
			t.Fatalf("%s: reopening: %v", name, err)
		}
		expected := readNpz(t, filepath.Join("testdata", name+".expected.npz"))
		for i, info := range back.Tensors() {
			w := want.Tensors[i]
			if info.Name != w.Name || info.DType.String() != w.DType || !slices.Equal(info.Shape, w.Shape) {
				t.Errorf("%s: tensor %d is %v, want %+v", name, i, info, w)
			}
			got, err := back.Load(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, expected[w.Name].data) {
				t.Errorf("%s: %s differs from torch's values after the rewrite", name, w.Name)
			}
		}
		back.Close()
	}
}

func TestWriterLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "layout.pt")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{3, 0, 17, 1, 64, 5} {
		x := tensor.New(tensor.U8, n)
		for j := range x.Data {
			x.Data[j] = byte(i + j)
		}
		if err := w.Add(strings.Repeat("n", i+1), x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file is visible before Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		if strings.HasPrefix(f.Name, "layout/data/") {
			off, err := f.DataOffset()
			if err != nil || off%storageAlignment != 0 {
				t.Errorf("%s: data at %d (%v), want a multiple of %d", f.Name, off, err, storageAlignment)
			}
		}
	}
	want := "layout/data/0 layout/data/1 layout/data/2 layout/data/3 layout/data/4 layout/data/5 layout/data.pkl layout/byteorder layout/version"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries\n got %s\nwant %s", got, want)
	}
}

func TestWriterMaterializesStridedTensors(t *testing.T) {
	// A 2x3 view with strides (1, 2) over [0 1 2 3 4 5] is [[0 2 4] [1 3 5]].
	src := &tensor.Tensor{DType: tensor.I16, Shape: []int{2, 3}, Strides: []int{1, 2},
		Data: tensor.Bytes([]int16{0, 1, 2, 3, 4, 5})}
	path := filepath.Join(t.TempDir(), "strided.pt")
	if err := Write(context.Background(), path, []string{"x"}, func(string) (*tensor.Tensor, error) { return src, nil }); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Load("x")
	if err != nil {
		t.Fatal(err)
	}
	if got := x.I16(); !slices.Equal(x.Shape, []int{2, 3}) || len(got) != 6 || got[1] != 2 || got[3] != 1 || got[5] != 5 {
		t.Fatalf("x = %v %v, want [[0 2 4] [1 3 5]]", x.Shape, got)
	}
}

func TestWriterErrorsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pt")
	loadErr := errors.New("disk on fire")
	cases := []struct {
		names []string
		load  func(string) (*tensor.Tensor, error)
		want  string
	}{
		{[]string{"a"}, func(string) (*tensor.Tensor, error) { return nil, loadErr }, `torch: tensor "a": disk on fire`},
		{[]string{"a"}, func(string) (*tensor.Tensor, error) { return tensor.New(tensor.F8E4M3, 2), nil },
			`torch: tensor "a": dtype F8_E4M3 cannot be written to a .pt file`},
		{[]string{"a", "a"}, func(string) (*tensor.Tensor, error) { return tensor.New(tensor.F32, 2), nil },
			`torch: tensor "a": added twice`},
		{[]string{"\xff"}, func(string) (*tensor.Tensor, error) { return tensor.New(tensor.F32, 2), nil },
			`torch: tensor "\xff": name is not valid UTF-8 or longer than 4 GiB`},
	}
	for _, c := range cases {
		err := Write(context.Background(), path, c.names, c.load)
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %s", err, c.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("a failed write left %v behind", entries)
		}
	}
}

func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "a.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("x", tensor.New(tensor.F32, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Abort left %v behind", entries)
	}
}

func TestWriteCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	err := Write(ctx, filepath.Join(dir, "c.pt"), []string{"a", "b"}, func(name string) (*tensor.Tensor, error) {
		cancel() // cancelled while the first tensor is being produced
		return tensor.New(tensor.F32, 2), nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a cancelled write left %v behind", entries)
	}
}
