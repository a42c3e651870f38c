package gguf

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.gguf from the builders below")

// raw builds GGUF bytes field by field, so the hostile files can say anything.
type raw struct{ bytes.Buffer }

func (r *raw) u32(x uint32) *raw { binary.Write(r, binary.LittleEndian, x); return r }
func (r *raw) u64(x uint64) *raw { binary.Write(r, binary.LittleEndian, x); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) head(nTensors, nKV uint64) *raw {
	r.WriteString("GGUF")
	return r.u32(3).u64(nTensors).u64(nKV)
}
func (r *raw) tensor(name string, typ uint32, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(off)
}
func (r *raw) padTo(n int) *raw { r.Write(make([]byte, n-r.Len()%n)); return r }

// hostile maps each testdata file to its builder and the exact error Open returns.
var hostile = []struct {
	file  string
	build func() []byte
	want  string
}{
	{"bad-magic.gguf", func() []byte { return []byte("GGML\x03\x00\x00\x00") }, `gguf: not a GGUF file (magic is not "GGUF")`},
	{"version-2.gguf", func() []byte { r := &raw{}; r.WriteString("GGUF"); return r.u32(2).u64(0).u64(0).Bytes() },
		"gguf: unsupported GGUF version 2: qscript reads version 3 (llama.cpp dropped v1; re-save a v2 file with a recent llama.cpp)"},
	{"truncated-header.gguf", func() []byte {
		r := (&raw{}).head(0, 1).str("general.al").u32(4)
		r.WriteString("ab")
		return r.Bytes()
	},
		`metadata "general.al": gguf: file truncated`},
	{"tensor-count-huge.gguf", func() []byte { return (&raw{}).head(1<<60, 0).Bytes() },
		"gguf: count larger than the file can hold: 1152921504606846976 tensors need at least 24 bytes each, 8 bytes are left"},
	{"kv-count-huge.gguf", func() []byte { return (&raw{}).head(0, 1<<40).Bytes() },
		"gguf: count larger than the file can hold: 1099511627776 metadata entries need at least 13 bytes each, 0 bytes are left"},
	{"string-length-huge.gguf", func() []byte { return (&raw{}).head(0, 1).u64(1 << 62).u64(0).Bytes() },
		"metadata key 0: gguf: file truncated: a string of 4611686018427387904 bytes with 8 bytes left"},
	{"array-count-huge.gguf", func() []byte { return (&raw{}).head(0, 1).str("a").u32(9).u32(8).u64(1 << 50).Bytes() },
		`metadata "a": gguf: count larger than the file can hold: 1125899906842624 array elements need at least 8 bytes each, 0 bytes are left`},
	{"invalid-value-type.gguf", func() []byte { return (&raw{}).head(0, 1).str("a").u32(13).u32(0).Bytes() },
		`metadata "a": gguf: invalid metadata value type: 13`},
	{"arrays-nested-too-deep.gguf", func() []byte {
		r := (&raw{}).head(0, 1).str("a").u32(9)
		for range 9 {
			r.u32(9).u64(1)
		}
		return r.u32(0).u64(0).Bytes()
	}, `metadata "a": gguf: arrays nested too deeply: more than 8 levels`},
	{"duplicate-key.gguf", func() []byte { return (&raw{}).head(0, 2).str("a").u32(4).u32(1).str("a").u32(4).u32(2).Bytes() },
		`gguf: duplicate metadata key: "a"`},
	{"empty-key.gguf", func() []byte { return (&raw{}).head(0, 1).str("").u32(4).u32(1).Bytes() },
		"gguf: invalid metadata key: key 0 is empty"},
	{"alignment-not-u32.gguf", func() []byte { return (&raw{}).head(0, 1).str(AlignmentKey).u32(10).u64(64).Bytes() },
		"gguf: invalid general.alignment: must be a u32, is a u64"},
	{"alignment-not-power-of-two.gguf", func() []byte { return (&raw{}).head(0, 1).str(AlignmentKey).u32(4).u32(48).Bytes() },
		"gguf: invalid general.alignment: 48 is not a power of two"},
	{"tensor-name-too-long.gguf", func() []byte {
		return (&raw{}).head(1, 0).tensor(string(bytes.Repeat([]byte("n"), 64)), 0, 0, 1).Bytes()
	},
		"tensor 0: gguf: invalid tensor name: 64 bytes, ggml holds at most 63"},
	{"duplicate-tensor-name.gguf", func() []byte {
		return (&raw{}).head(2, 0).tensor("w", 0, 0, 8).tensor("w", 0, 32, 8).padTo(32).Write64().Bytes()
	}, `gguf: duplicate tensor name: "w"`},
	{"too-many-dims.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 0, 0, 1, 1, 1, 1, 1).Bytes() },
		`tensor "w": gguf: invalid tensor dimensions: 5 dimensions, ggml holds at most 4`},
	{"dims-overflow.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 0, 0, 1<<32, 1<<32).Bytes() },
		`tensor "w": gguf: tensor size overflows: [4294967296 4294967296] elements`},
	{"negative-dim.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 0, 0, 1<<63).Bytes() },
		`tensor "w": gguf: invalid tensor dimensions: dimension 0 is 9223372036854775808`},
	{"bytes-overflow.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 0, 0, 1<<62).Bytes() },
		`tensor "w": gguf: tensor size overflows: [4611686018427387904] elements of F32`},
	{"unknown-tensor-type.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 4, 0, 32).Bytes() },
		`tensor "w": gguf: unknown tensor type: 4`},
	{"row-not-whole-blocks.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 8, 0, 48, 2).Bytes() },
		`tensor "w": gguf: row length is not a multiple of the type's block size: Q8_0 rows of 48 elements, blocks of 32`},
	{"offset-gap.gguf", func() []byte {
		return (&raw{}).head(2, 0).tensor("a", 0, 0, 8).tensor("b", 0, 64, 8).padTo(32).Write64().Write64().Write64().Bytes()
	}, `tensor "b": gguf: tensor offset is not where ggml expects it: 64, expected 32`},
	{"offsets-overlap.gguf", func() []byte {
		return (&raw{}).head(2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 8).padTo(32).Write64().Write64().Write64().Bytes()
	}, `tensor "b": gguf: tensor offset is not where ggml expects it: 32, expected 64`},
	{"data-past-eof.gguf", func() []byte { return (&raw{}).head(1, 0).tensor("w", 0, 0, 16).padTo(32).Write64().Bytes() },
		`tensor "w": gguf: tensor data past end of file: 64 bytes at data offset 0, the file has 96 bytes`},
}

// Write64 appends 32 bytes of data.
func (r *raw) Write64() *raw { r.Write(make([]byte, 32)); return r }

func TestHostileFiles(t *testing.T) {
	for _, h := range hostile {
		path := filepath.Join("testdata", h.file)
		if *update {
			if err := os.WriteFile(path, h.build(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestHostileFiles -update)", err)
		}
		_, err = Open(bytes.NewReader(b), int64(len(b)))
		if err == nil || err.Error() != h.want {
			t.Errorf("%s:\n got %v\nwant %s", h.file, err, h.want)
		}
	}
}
