package gguf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func allTypesKVs() []KV {
	return []KV{
		{"general.architecture", Str("llama")},
		{"t.u8", U8(200)}, {"t.i8", Value{Type: Int8, V: int8(-100)}},
		{"t.u16", Value{Type: Uint16, V: uint16(60000)}}, {"t.i16", Value{Type: Int16, V: int16(-30000)}},
		{"t.u32", U32(4000000000)}, {"t.i32", I32(-2000000000)}, {"t.f32", F32(0.1)},
		{"t.bool", BoolVal(true)}, {"t.string", Str("héllo")}, {"t.u64", U64(1<<63 + 5)},
		{"t.i64", I64(-1 << 62)}, {"t.f64", F64(0.1)},
		{"t.strings", Strs([]string{"a", "", "ü"})}, {"t.floats", F32s([]float32{1.5, -2})},
		{"t.nested", Arrays([]Value{I32s([]int32{1, 2}), I32s([]int32{3})})},
		{"t.deep", Arrays([]Value{Arrays([]Value{Strs([]string{"x"})}), Arrays([]Value{})})},
		{"t.empty", U8s([]uint8{})},
	}
}

// TestRoundTrip writes every value type, nested arrays and tensors whose sizes need padding,
// in uneven pieces, and reads them back.
func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64} {
		kvs := allTypesKVs()
		if align != 0 {
			kvs = append(kvs, KV{AlignmentKey, U32(align)})
		}
		tensors := []TensorInfo{
			{Name: "a", Type: TypeF32, Dims: []uint64{3, 2}},
			{Name: "empty", Type: TypeF16, Dims: []uint64{0, 4}},
			{Name: "b", Type: TypeF16, Dims: []uint64{5}},
			{Name: "q", Type: TypeQ8_0, Dims: []uint64{64, 1, 1, 1}},
		}
		data := [][]byte{seq(24), {}, seq(10), seq(68)}
		path := filepath.Join(t.TempDir(), "x.gguf")
		w, err := Create(path, kvs, tensors)
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Concat(data...)
		for len(all) > 0 { // pieces of 7 bytes span tensor boundaries
			n := min(7, len(all))
			if _, err := w.Write(all[:n]); err != nil {
				t.Fatal(err)
			}
			all = all[n:]
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if !reflect.DeepEqual(f.KVs, kvs) {
			t.Errorf("align %d: metadata differs:\n got %v\nwant %v", align, f.KVs, kvs)
		}
		wantAlign := uint64(max(align, DefaultAlignment))
		if f.Alignment != wantAlign || f.DataOffset%int64(wantAlign) != 0 {
			t.Errorf("align %d: alignment %d, data at %d", align, f.Alignment, f.DataOffset)
		}
		for i, ti := range f.Tensors {
			if ti.Name != tensors[i].Name || ti.Type != tensors[i].Type || !slices.Equal(ti.Dims, tensors[i].Dims) || ti.Offset%wantAlign != 0 {
				t.Errorf("tensor %d: %+v", i, ti)
			}
			got, err := io.ReadAll(must(f.Section(ti.Name)))
			if err != nil || !bytes.Equal(got, data[i]) {
				t.Errorf("tensor %q: data %x, want %x (%v)", ti.Name, got, data[i], err)
			}
		}
		st, _ := os.Stat(path)
		last := f.Tensors[len(f.Tensors)-1]
		if uint64(st.Size()) != uint64(f.DataOffset)+pad(last.Offset+last.Size, wantAlign) {
			t.Errorf("file size %d: the last tensor is not padded as ggml pads it", st.Size())
		}
	}
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

// TestReadGGUFPy reads a file written by llama.cpp's gguf-py (scripts/fixtures/gguf_py_file.py).
func TestReadGGUFPy(t *testing.T) {
	f, err := OpenFile("testdata/real/gguf-py.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want struct {
		Tensors []struct {
			Name string
			Type TensorType
			Dims []uint64
			Hex  string
		}
	}
	if err := json.Unmarshal(must(os.ReadFile("testdata/real/gguf-py.json")), &want); err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.Architecture() != "llama" {
		t.Errorf("alignment %d, architecture %q", f.Alignment, f.Architecture())
	}
	wantKV := map[string]string{
		"t.u8": "200", "t.i8": "-100", "t.u16": "60000", "t.i16": "-30000", "t.u32": "4000000000",
		"t.i32": "-2000000000", "t.f32": "0.1", "t.bool": "true", "t.string": `"héllo"`,
		"t.u64": "9223372036854775813", "t.i64": "-4611686018427387904", "t.f64": "0.1",
		"t.strings": `[3 × string] "a", "", "ü"`, "t.floats": "[2 × f32] 1.5, -2",
		"t.nested": "[2 × array] [2 × i32] 1, 2, [1 × i32] 3",
	}
	for k, s := range wantKV {
		v, ok := f.Get(k)
		if !ok || v.String() != s {
			t.Errorf("%s = %v, want %s", k, v, s)
		}
	}
	if len(f.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(want.Tensors))
	}
	for i, w := range want.Tensors {
		ti := f.Tensors[i]
		if ti.Name != w.Name || ti.Type != w.Type || !slices.Equal(ti.Dims, w.Dims) {
			t.Errorf("tensor %d: %s %v %v, want %s %v %v", i, ti.Name, ti.Type, ti.Dims, w.Name, w.Type, w.Dims)
		}
		got := must(io.ReadAll(must(f.Section(ti.Name))))
		if hex.EncodeToString(got) != w.Hex {
			t.Errorf("tensor %q: data differs", ti.Name)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	f32 := []TensorInfo{{Name: "a", Type: TypeF32, Dims: []uint64{2}}}
	cases := []struct {
		name    string
		kvs     []KV
		tensors []TensorInfo
		write   []byte
		want    string
	}{
		{"short", nil, f32, seq(4), `tensor "a": gguf: cannot write: 4 of 8 bytes written`},
		{"long", nil, f32, seq(9), `gguf: cannot write: 1 bytes past the last tensor`},
		{"alignment", []KV{{AlignmentKey, U32(3)}}, f32, nil, "gguf: invalid general.alignment: 3 (a u32 power of two)"},
		{"alignment-type", []KV{{AlignmentKey, U64(32)}}, f32, nil, "gguf: invalid general.alignment: 32 (a u32 power of two)"},
		{"dup-key", []KV{{"k", U8(1)}, {"k", U8(2)}}, f32, nil, `gguf: invalid metadata key: "k" (empty or repeated)`},
		{"value-type", []KV{{"k", Value{Type: Uint32, V: 5}}}, f32, nil, `metadata "k": gguf: invalid metadata value type: u32 value holds int`},
		{"array-type", []KV{{"k", Value{Type: Array, Elem: Float32, V: []float64{1}}}}, f32, nil, `metadata "k": gguf: invalid metadata value type: array of f32 holds []float64`},
		{"dup-tensor", nil, append(f32, f32...), nil, `gguf: duplicate tensor name: "a"`},
		{"blocks", nil, []TensorInfo{{Name: "q", Type: TypeQ8_0, Dims: []uint64{48, 2}}}, nil, `tensor "q": gguf: row length is not a multiple of the type's block size: Q8_0 rows of 48 elements, blocks of 32`},
		{"long-name", nil, []TensorInfo{{Name: string(make([]byte, 64)), Type: TypeF32}}, nil, "gguf: invalid tensor name"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".gguf")
		w, err := Create(path, c.kvs, c.tensors)
		if err == nil {
			w.Write(c.write)
			err = w.Commit()
		}
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
		if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("%s: a file was left at %s", c.name, path)
		}
	}
}
