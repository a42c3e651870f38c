package safetensors

import (
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the hostile files in testdata/")

// stFile assembles a safetensors file from a header text and data bytes, with the true
// header length.
func stFile(header string, data []byte) []byte {
	return stFileWithLength(uint64(len(header)), header, data)
}

// stFileWithLength writes length as the header length prefix, whatever the header holds.
func stFileWithLength(length uint64, header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, length)
	out = append(out, header...)
	return append(out, data...)
}

// hostile lists files that break one rule each, and the exact error OpenFile gives for
// them. TestGenerateHostile -update writes them into testdata/.
var hostile = []struct {
	file    string
	content []byte
	err     string
}{
	{"truncated-length.safetensors", []byte{1, 0, 0},
		"safetensors: file shorter than the 8-byte header length"},
	{"header-length-beyond-file.safetensors", stFileWithLength(1000, `{}`, nil),
		"safetensors: header length beyond end of file: header of 1000 bytes in a file of 10"},
	{"huge-header.safetensors", stFileWithLength(1<<40, `{}`, nil),
		"safetensors: header too large: 1099511627776 bytes, the limit is 104857600"},
	{"invalid-json.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],`, nil),
		`tensor "a": safetensors: invalid header: JSON ends early`},
	{"json-syntax.safetensors", stFile(`{"a":{"dtype":F32}}`, nil),
		`tensor "a": safetensors: invalid header: invalid character 'F' looking for beginning of value`},
	{"trailing-json.safetensors", stFile(`{} {}`, nil),
		"safetensors: invalid header: data after the JSON object"},
	{"header-not-utf8.safetensors", stFile("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", make([]byte, 4)),
		"safetensors: invalid header: the JSON is not valid UTF-8"},
	{"header-not-object.safetensors", stFile(`[1,2]`, nil),
		`safetensors: invalid header: found [ where "{" belongs`},
	{"unknown-dtype.safetensors", stFile(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: unknown dtype "F33"`},
	{"unsupported-dtype.safetensors", stFile(`{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: dtype not supported by qscript: "U16"`},
	{"unknown-key.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid header: unknown key "extra"`},
	{"missing-offsets.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid header: missing "data_offsets"`},
	{"duplicate-key-in-entry.safetensors", stFile(`{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid header: key "dtype" appears twice`},
	{"duplicate-names.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
		`tensor "a": safetensors: duplicate tensor name`},
	{"negative-dimension.safetensors", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid shape: shape holds -1, not an integer in [0, 2^64)`},
	{"fractional-dimension.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid shape: shape holds 1.5, not an integer in [0, 2^64)`},
	{"shape-overflow.safetensors", stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid shape: [4294967296 4294967296]: element count overflows`},
	{"bytes-overflow.safetensors", stFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid shape: [2305843009213693952]: byte count overflows`},
	{"three-offsets.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid data_offsets: want [begin, end], have 3 numbers`},
	{"offsets-reversed.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4)),
		`tensor "a": safetensors: invalid data_offsets: [4, 0] ends before it begins`},
	{"offsets-past-eof.safetensors", stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)),
		`tensor "a": safetensors: data_offsets past end of file: [0, 16] but the data section holds 8 bytes`},
	{"shape-dtype-mismatch.safetensors", stFile(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, make([]byte, 20)),
		`tensor "a": safetensors: byte length does not match shape and dtype: F32 [2 3] needs 24 bytes, data_offsets [0, 20] hold 20`},
	{"offsets-overlap.safetensors", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
		`tensor "b": safetensors: data_offsets overlap: begins at 4, inside tensor "a" which ends at 8`},
	{"offsets-alias.safetensors", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)),
		`tensor "b": safetensors: data_offsets overlap: begins at 0, inside tensor "a" which ends at 8`},
	{"offsets-gap.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)),
		`tensor "b": safetensors: gap between tensors: begins at 8, but the previous tensor ends at 4`},
	{"trailing-data.safetensors", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 12)),
		`safetensors: data after the last tensor: tensors end at 4, the data section holds 12 bytes`},
	{"metadata-not-string.safetensors", stFile(`{"__metadata__":{"n":3}}`, nil),
		`safetensors: invalid __metadata__: value of "n" is not a string`},
	{"metadata-not-object.safetensors", stFile(`{"__metadata__":"x"}`, nil),
		`safetensors: invalid __metadata__: not an object`},
	{"metadata-duplicate-key.safetensors", stFile(`{"__metadata__":{"k":"a","k":"b"}}`, nil),
		`safetensors: invalid __metadata__: key "k" appears twice`},
}

func TestGenerateHostile(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/")
	}
	for _, h := range hostile {
		if err := os.WriteFile(filepath.Join("testdata", h.file), h.content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostileFiles(t *testing.T) {
	for _, h := range hostile {
		t.Run(strings.TrimSuffix(h.file, ".safetensors"), func(t *testing.T) {
			path := filepath.Join("testdata", h.file)
			f, err := OpenFile(path)
			if err == nil {
				f.Close()
				t.Fatalf("OpenFile succeeded")
			}
			if want := path + ": " + h.err; err.Error() != want {
				t.Fatalf("error\n got %s\nwant %s", err, want)
			}
		})
	}
}
