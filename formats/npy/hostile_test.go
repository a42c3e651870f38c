package npy

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the hostile files in testdata/")

// npyBytes assembles a .npy file from a header dict and data, with a version 1.0 prefix.
func npyBytes(dict string, data []byte) []byte {
	out := []byte(magic + "\x01\x00")
	out = binary.LittleEndian.AppendUint16(out, uint16(len(dict)))
	out = append(out, dict...)
	return append(out, data...)
}

func f32Dict(shape string) string {
	return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n"
}

// hostileNpy lists .npy files that each break one rule, and the error OpenFile gives.
var hostileNpy = []struct {
	file    string
	content []byte
	err     string
}{
	{"bad-magic.npy", []byte("\x93NUMPX\x01\x00\x00\x00"), "npy: not a .npy file (bad magic)"},
	{"too-short.npy", []byte("\x93NUM"), "npy: not a .npy file (bad magic)"},
	{"version-4.npy", []byte(magic + "\x04\x00\x00\x00"), "npy: unsupported format version 4.0"},
	{"header-beyond-file.npy", []byte(magic + "\x01\x00\xc8\x00{'descr'"), "npy: file ends inside the header: header of 200 bytes"},
	{"header-too-large.npy", []byte(magic + "\x02\x00\x00\x00\x00\x40{"), "npy: header too large: 1073741824 bytes, the limit is 65536"},
	{"header-not-dict.npy", npyBytes("[1, 2]\n", nil), "npy: invalid header at byte 0: header does not start with '{'"},
	{"header-eval.npy", npyBytes("{'descr': __import__('os').system('touch /tmp/x'), 'fortran_order': False, 'shape': (1,), }", nil),
		"npy: invalid header at byte 10: unexpected character '_'"},
	{"header-unterminated-string.npy", npyBytes("{'descr': '<f4", nil), "npy: invalid header at byte 10: unterminated string"},
	{"header-truncated-dict.npy", npyBytes("{'descr': '<f4', ", nil), "npy: invalid header at byte 17: header ends early"},
	{"header-missing-shape.npy", npyBytes("{'descr': '<f4', 'fortran_order': False}", nil), "npy: invalid header: missing key 'shape'"},
	{"header-unknown-key.npy", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", make([]byte, 4)),
		"npy: invalid header: unknown key 'x'"},
	{"header-duplicate-key.npy", npyBytes("{'descr': '<f4', 'descr': '<i4', 'fortran_order': False, 'shape': (1,)}", make([]byte, 4)),
		"npy: invalid header at byte 24: key 'descr' appears twice"},
	{"header-trailing-text.npy", npyBytes(f32Dict("(1,)")+"x", make([]byte, 4)), "npy: invalid header at byte 58: data after the closing '}'"},
	{"header-deep-nesting.npy", npyBytes("{'descr': "+string(bytes.Repeat([]byte("["), 40)), nil), "npy: invalid header at byte 26: nesting deeper than 16"},
	{"fortran-order-not-bool.npy", npyBytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", make([]byte, 4)),
		"npy: invalid header: fortran_order is 0, not True or False"},
	{"shape-not-tuple.npy", npyBytes(f32Dict("(3)"), make([]byte, 12)), "npy: invalid shape: shape is 3, not a tuple"},
	{"shape-not-integer.npy", npyBytes(f32Dict("('a',)"), nil), "npy: invalid shape: dimension 0 is 'a'"},
	{"negative-dimension.npy", npyBytes(f32Dict("(-1,)"), nil), "npy: invalid header at byte 51: unexpected character '-'"},
	{"dimension-out-of-range.npy", npyBytes(f32Dict("(99999999999999999999,)"), nil), "npy: invalid header at byte 71: integer 99999999999999999999 out of range"},
	{"shape-overflow.npy", npyBytes(f32Dict("(4294967296, 4294967296)"), nil), "npy: invalid shape [4294967296 4294967296]: element count overflows"},
	{"data-short.npy", npyBytes(f32Dict("(2, 3)"), make([]byte, 20)), "npy: data length does not match shape and dtype: F32 [2 3] needs 24 bytes, the file holds 20 after the header"},
	{"data-long.npy", npyBytes(f32Dict("(2,)"), make([]byte, 12)), "npy: data length does not match shape and dtype: F32 [2] needs 8 bytes, the file holds 12 after the header"},
}

// numpyRefused are files numpy wrote (scripts/fixtures/gen_formats.py) that qscript refuses.
var numpyRefused = []struct{ file, err string }{
	{"real/big-endian.npy", "npy: big-endian data is not supported (descr '>f4'); convert with a.astype('<f4')"},
	{"real/structured.npy", "npy: unsupported dtype: structured dtype a list"},
	{"real/complex.npy", "npy: unsupported dtype '<c8'"},
	{"real/object.npy", "npy: unsupported dtype '|O'"},
	{"real/u16.npy", "npy: unsupported dtype '<u2'"},
}

// zipMember describes one member of a hand-made .npz. raw members are written with
// CreateRaw, so their declared sizes and CRC can lie.
type zipMember struct {
	name         string
	content      []byte
	raw          bool
	declaredSize uint64 // uncompressed size written in the directory, for raw members
	method       uint16
}

func zipBytes(members ...zipMember) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		if !m.raw {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
			w.Write(m.content)
			continue
		}
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(m.content)
		fw.Close()
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(m.content),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: m.declaredSize})
		w.Write(comp.Bytes())
	}
	zw.Close()
	return buf.Bytes()
}

// overlappingZip makes the non-recursive zip bomb: a second directory entry that points at
// the first member's bytes. Real bombs repeat this thousands of times.
func overlappingZip() []byte {
	b := zipBytes(zipMember{name: "a.npy", content: npyBytes(f32Dict("(2,)"), make([]byte, 8))})
	eocd := bytes.LastIndex(b, []byte("PK\x05\x06"))
	cdOffset := binary.LittleEndian.Uint32(b[eocd+16:])
	central := append([]byte(nil), b[cdOffset:eocd]...)
	second := append([]byte(nil), central...)
	nameLen := binary.LittleEndian.Uint16(second[28:])
	copy(second[46:46+nameLen], "b.npy")
	out := append(append(append([]byte(nil), b[:cdOffset]...), central...), second...)
	end := append([]byte(nil), b[eocd:]...)
	binary.LittleEndian.PutUint16(end[8:], 2)
	binary.LittleEndian.PutUint16(end[10:], 2)
	binary.LittleEndian.PutUint32(end[12:], uint32(2*len(central)))
	return append(out, end...)
}

func mustNpy(dict string, n int) []byte { return npyBytes(dict, make([]byte, n)) }

// hostileNpz lists .npz files and the error from OpenNPZFile, or, when loadErr is set,
// from loading array "a" of an archive that opens.
var hostileNpz = []struct {
	file    string
	content []byte
	err     string
	loadErr bool
}{
	{"not-a-zip.npz", []byte("this is not a zip archive"), "npz: not a zip archive: zip: not a valid zip file", false},
	{"not-npy-member.npz", zipBytes(zipMember{name: "readme.txt", content: []byte("hi")}), `npz: invalid member "readme.txt": not a .npy file`, false},
	{"duplicate-member.npz", zipBytes(zipMember{name: "a.npy", content: mustNpy(f32Dict("(1,)"), 4)}, zipMember{name: "a.npy", content: mustNpy(f32Dict("(1,)"), 4)}),
		`array "a": npz: duplicate member name`, false},
	{"member-bad-header.npz", zipBytes(zipMember{name: "a.npy", content: []byte("garbage!garbage!")}), `array "a": npy: not a .npy file (bad magic)`, false},
	{"member-shorter-than-header.npz", zipBytes(zipMember{name: "a.npy", content: mustNpy(f32Dict("(100,)"), 40)}),
		`array "a": npz: declared size does not match the npy header: member declares 110 bytes, its header (F32 [100]) needs 470`, false},
	{"sizes-lie.npz", zipBytes(zipMember{name: "a.npy", raw: true, content: mustNpy(f32Dict("(100,)"), 40), declaredSize: uint64(len(mustNpy(f32Dict("(100,)"), 400)))}),
		`array "a": npz: invalid member: data ends after fewer than 400 bytes: unexpected EOF`, true},
	{"stream-longer-than-declared.npz", zipBytes(zipMember{name: "a.npy", raw: true, content: mustNpy(f32Dict("(10,)"), 400), declaredSize: uint64(len(mustNpy(f32Dict("(10,)"), 40)))}),
		`array "a": npz: invalid member: zip: not a valid zip file`, true},
	{"zip-bomb-ratio.npz", zipBytes(zipMember{name: "a.npy", raw: true, content: mustNpy(f32Dict("(1,)"), 4), declaredSize: 1 << 30}),
		`array "a": npz: zip bomb: 76 compressed bytes cannot inflate to the declared 1073741824`, false},
	{"zip-bomb-overlap.npz", overlappingZip(), `array "b": npz: zip bomb: its compressed data overlaps that of "a"`, false},
}

func TestGenerateHostile(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/")
	}
	for _, h := range hostileNpy {
		if err := os.WriteFile(filepath.Join("testdata", h.file), h.content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hostileNpz {
		if err := os.WriteFile(filepath.Join("testdata", h.file), h.content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostileNpy(t *testing.T) {
	cases := numpyRefused
	for _, h := range hostileNpy {
		cases = append(cases, struct{ file, err string }{h.file, h.err})
	}
	for _, h := range cases {
		t.Run(h.file, func(t *testing.T) {
			path := filepath.Join("testdata", h.file)
			f, err := OpenFile(path)
			if err == nil {
				f.Close()
				t.Fatal("OpenFile succeeded")
			}
			if want := path + ": " + h.err; err.Error() != want {
				t.Fatalf("error\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestHostileNpz(t *testing.T) {
	for _, h := range hostileNpz {
		t.Run(h.file, func(t *testing.T) {
			path := filepath.Join("testdata", h.file)
			a, err := OpenNPZFile(path)
			if h.loadErr {
				if err != nil {
					t.Fatalf("OpenNPZFile: %v", err)
				}
				defer a.Close()
				_, err = a.Load("a")
			} else if err == nil {
				a.Close()
				t.Fatal("OpenNPZFile succeeded")
			}
			want := path + ": " + h.err
			if err == nil || err.Error() != want {
				t.Fatalf("error\n got %v\nwant %s", err, want)
			}
		})
	}
}
