package safetensors

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// expectedFile is what scripts/fixtures/gen_formats.py recorded from torch for a fixture.
type expectedFile struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
		Hex   string `json:"hex"`
	} `json:"tensors"`
}

func readExpected(t *testing.T, path string) expectedFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// model is formats.Model, restated here because this package must not import formats.
type model interface {
	Tensors() []tensor.Info
	Load(name string) (*tensor.Tensor, error)
	Metadata() map[string]string
	Close() error
}

var (
	_ model = (*File)(nil)
	_ model = (*Sharded)(nil)
)

// checkAgainstExpected compares every tensor of m with the torch-produced bytes, bit for bit.
func checkAgainstExpected(t *testing.T, m model, want expectedFile) {
	t.Helper()
	infos := m.Tensors()
	if len(infos) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(infos), len(want.Tensors))
	}
	if !slices.IsSortedFunc(infos, func(a, b tensor.Info) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Tensors not sorted by name")
	}
	for _, info := range infos {
		w, ok := want.Tensors[info.Name]
		if !ok {
			t.Fatalf("unexpected tensor %q", info.Name)
		}
		if info.DType.String() != w.DType || !slices.Equal(info.Shape, w.Shape) {
			t.Errorf("%s: %v %v, want %s %v", info.Name, info.DType, info.Shape, w.DType, w.Shape)
		}
		got, err := m.Load(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes, _ := hex.DecodeString(w.Hex)
		if !bytes.Equal(got.Data, wantBytes) {
			t.Errorf("%s: data differs from torch's bytes", info.Name)
		}
	}
	if !maps.Equal(m.Metadata(), want.Metadata) {
		t.Errorf("metadata %v, want %v", m.Metadata(), want.Metadata)
	}
}

func TestReadTorchFixture(t *testing.T) {
	want := readExpected(t, "testdata/real/all-dtypes.expected.json")
	f, err := OpenFile("testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.mapping == nil {
		t.Errorf("OpenFile did not memory-map the file")
	}
	checkAgainstExpected(t, f, want)

	// A few values spelled out, so a wrong dtype mapping cannot hide behind raw bytes.
	scalar, _ := f.Load("scalar")
	if len(scalar.Shape) != 0 || scalar.F32()[0] != 3.25 {
		t.Errorf("scalar: %v %v", scalar.Shape, scalar.ToF32())
	}
	e4m3, _ := f.Load("f8_e4m3")
	if v := e4m3.ToF32(); v[0x38] != 1 || v[0x7e] != 448 {
		t.Errorf("fp8 e4m3 codes 0x38, 0x7e decode to %v, %v", v[0x38], v[0x7e])
	}
}

func TestReadFromReaderAt(t *testing.T) {
	want := readExpected(t, "testdata/real/all-dtypes.expected.json")
	b, err := os.ReadFile("testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstExpected(t, f, want)
	sec, err := f.Section("f32")
	if err != nil || sec.Size() != 48 {
		t.Fatalf("Section: %v, %v", sec, err)
	}
}

func TestReadSharded(t *testing.T) {
	want := readExpected(t, "testdata/real/sharded.expected.json")
	s, err := OpenIndex("testdata/real/sharded/model.safetensors.index.json")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkAgainstExpected(t, s, want)
	if got := s.Shards(); len(got) != 2 {
		t.Errorf("shards %v", got)
	}
}

func TestShardedErrors(t *testing.T) {
	dir := t.TempDir()
	shard, err := os.ReadFile("testdata/real/sharded/model-00001-of-00002.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.safetensors"), shard, 0o644)
	index := filepath.Join(dir, "m.safetensors.index.json")
	cases := []struct{ index, err string }{
		{`{"weight_map":{"x":"../a.safetensors"}}`, `tensor "x": safetensors: invalid index: shard "../a.safetensors" is not a plain file name`},
		{`{"weight_map":{"embed.weight":"a.safetensors","embed.weight":"a.safetensors"}}`, `tensor "embed.weight": safetensors: duplicate tensor name`},
		{`{"weight_map":{"embed.weight":"a.safetensors"}}`, `tensor "layer.0.weight": safetensors: invalid index: shard a.safetensors holds it but the index maps it to ""`},
		{`{"weight_map":{"embed.weight":"a.safetensors","layer.0.weight":"a.safetensors","ghost":"a.safetensors"}}`, `tensor "ghost": safetensors: invalid index: not in shard a.safetensors`},
		{`{"metadata":{},"other":1}`, `safetensors: invalid index: unknown key "other"`},
		{`{"metadata":{}}`, `safetensors: invalid index: missing "weight_map"`},
	}
	for _, c := range cases {
		os.WriteFile(index, []byte(c.index), 0o644)
		_, err := OpenIndex(index)
		if err == nil || err.Error() != index+": "+c.err {
			t.Errorf("%s:\n got %v\nwant %s", c.index, err, index+": "+c.err)
		}
	}
	os.WriteFile(index, []byte(`{"weight_map":{"x":"missing.safetensors"}}`), 0o644)
	if _, err := OpenIndex(index); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing shard: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	f, err := OpenFile("testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Load("nope")
	if want := `testdata/real/all-dtypes.safetensors: tensor "nope": safetensors: no such tensor`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	f.Close()
	if _, err := f.Load("f32"); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

// TestWriteRoundTrip writes every torch fixture tensor through WriteFile (tensors asked for
// one at a time) and reads the result back.
func TestWriteRoundTrip(t *testing.T) {
	src, err := OpenFile("testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "out.safetensors")
	var asked []string
	err = WriteFile(context.Background(), out, src.Tensors(), src.Metadata(), func(name string) (*tensor.Tensor, error) {
		asked = append(asked, name)
		return src.Load(name)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(asked) {
		t.Errorf("tensors asked for in order %v, want sorted", asked)
	}
	b, _ := os.ReadFile(out)
	n := int(b[0]) | int(b[1])<<8
	if n%8 != 0 || b[8+n-1] != ' ' && b[8+n-1] != '}' {
		t.Errorf("header length %d not padded to 8", n)
	}
	if !bytes.HasPrefix(b[8:], []byte(`{"__metadata__":{"format":"pt","quantization":`)) {
		t.Errorf("header starts %q", b[8:60])
	}
	got, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	checkAgainstExpected(t, got, readExpected(t, "testdata/real/all-dtypes.expected.json"))
}

func TestWriterAnyOrderAndStrided(t *testing.T) {
	out := filepath.Join(t.TempDir(), "w.safetensors")
	infos := []tensor.Info{{Name: "b", DType: tensor.F32, Shape: []int{2, 2}}, {Name: "a", DType: tensor.I8, Shape: []int{3}}}
	w, err := Create(out, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	// b is the transpose of [[1 2] [3 4]], given as a strided view.
	b := tensor.FromF32([]int{2, 2}, []float32{1, 2, 3, 4})
	b.Strides = []int{1, 2}
	if err := w.Write("b", b); err != nil {
		t.Fatal(err)
	}
	a, _ := tensor.FromBytes(tensor.I8, []int{3}, []byte{0xff, 1, 2})
	if err := w.Write("a", a); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gb, _ := f.Load("b")
	if !slices.Equal(gb.F32(), []float32{1, 3, 2, 4}) {
		t.Errorf("b = %v", gb.F32())
	}
	ga, _ := f.Load("a")
	if !slices.Equal(ga.I8(), []int8{-1, 1, 2}) {
		t.Errorf("a = %v", ga.I8())
	}
	if len(f.Metadata()) != 0 {
		t.Errorf("metadata %v", f.Metadata())
	}
}

func TestWriterErrorsLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "w.safetensors")
	infos := []tensor.Info{{Name: "a", DType: tensor.F32, Shape: []int{2}}, {Name: "b", DType: tensor.F32, Shape: []int{1}}}
	two := tensor.FromF32([]int{2}, []float32{1, 2})

	w, err := Create(out, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("a", tensor.FromF32([]int{1}, []float32{1})); err == nil ||
		err.Error() != out+`: tensor "a": safetensors: cannot write: have F32 [1], the header says F32 [2]` {
		t.Errorf("shape mismatch: %v", err)
	}
	if err := w.Write("c", two); err == nil || !strings.Contains(err.Error(), `tensor "c": safetensors: cannot write: not in the header`) {
		t.Errorf("unknown name: %v", err)
	}
	w.Write("a", two)
	if err := w.Close(); err == nil || err.Error() != out+`: tensor "b": safetensors: cannot write: never written` {
		t.Errorf("missing tensor: %v", err)
	}
	assertEmpty(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	err = WriteFile(ctx, out, infos, nil, func(name string) (*tensor.Tensor, error) {
		cancel()
		return two, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled WriteFile: %v", err)
	}
	assertEmpty(t, dir)

	err = WriteFile(context.Background(), out, infos, nil, func(name string) (*tensor.Tensor, error) {
		return nil, errors.New("boom")
	})
	if err == nil || err.Error() != out+`: tensor "a": boom` {
		t.Errorf("failing load: %v", err)
	}
	assertEmpty(t, dir)

	if _, err := Create(out, append(infos, infos[0]), nil); err == nil ||
		err.Error() != out+`: tensor "a": safetensors: cannot write: safetensors: duplicate tensor name` {
		t.Errorf("duplicate infos: %v", err)
	}
	if _, err := Create(out, []tensor.Info{{Name: "a\xff", DType: tensor.F32, Shape: []int{1}}}, nil); err == nil ||
		err.Error() != out+`: tensor "a\xff": safetensors: cannot write: the name is not valid UTF-8` {
		t.Errorf("name not UTF-8: %v", err)
	}
	if _, err := Create(out, infos, map[string]string{"k": "v\xff"}); err == nil ||
		err.Error() != out+`: safetensors: cannot write: metadata "k": key or value is not valid UTF-8` {
		t.Errorf("metadata not UTF-8: %v", err)
	}
	assertEmpty(t, dir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("folder not empty after a failed write: %v", entries)
	}
}

func TestEmptyTensorLastFromReaderAt(t *testing.T) {
	b := stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"I64","shape":[0,2],"data_offsets":[4,4]}}`, make([]byte, 4))
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	z, err := f.Load("z")
	if err != nil || len(z.Data) != 0 || !slices.Equal(z.Shape, []int{0, 2}) {
		t.Fatalf("Load(z) = %v, %v", z, err)
	}
}

func TestReleaseKeepsDataReadable(t *testing.T) {
	f, err := OpenFile("testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := readExpected(t, "testdata/real/all-dtypes.expected.json")
	for _, info := range f.Tensors() {
		if err := f.Release(info.Name); err != nil {
			t.Fatal(err)
		}
	}
	checkAgainstExpected(t, f, want)
	if err := f.Release("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Release of a missing tensor: %v", err)
	}
}
