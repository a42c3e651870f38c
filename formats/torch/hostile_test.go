package torch

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// The hostile archives come from scripts/fixtures/torch_malicious.py; each breaks one thing.
func TestHostileArchives(t *testing.T) {
	cases := []struct {
		file string
		want string // the error after "testdata/hostile/FILE.pt: "
	}{
		{"broadcast-too-large", `tensor "w": torch: invalid checkpoint: size [1048576 1048576] stride [0 0] repeats the 16 bytes of storage data/0 into more than 1073741824 bytes`},
		{"broadcast-total-too-large", `tensor "b": torch: invalid checkpoint: views larger than their storages (expand()) would materialize more than 1073741824 bytes in all`},
		{"big-endian", `torch: invalid checkpoint: the checkpoint was written on a big-endian machine; load and re-save it on a little-endian one`},
		{"compressed-storage", `tensor "w": torch: invalid checkpoint: storage data/0 is compressed (method 8); torch writes storages uncompressed`},
		{"deep-nesting", `torch: invalid checkpoint: "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a" is nested more than 64 levels deep`},
		{"empty-file", `torch: invalid checkpoint: the file is empty`},
		{"memo-fanout", `torch: invalid checkpoint: a 377-byte pickle describes more than 8412736 bytes of names and values (shared references repeated through the memo?)`},
		{"memo-missing", `data.pkl byte 9: torch: invalid checkpoint: memo key 7 was never stored`},
		{"missing-storage", `tensor "w": torch: invalid checkpoint: storage data/0 is missing from the archive`},
		{"no-folder", `torch: invalid checkpoint: first entry "data.pkl" is not inside a folder, so this is not a torch.save archive`},
		{"not-a-zip", `torch: invalid checkpoint: not a zip archive (starts with 74 68 69 73)`},
		{"offset-past-storage", `tensor "w": torch: invalid checkpoint: size [2] stride [1] offset 3 reaches element 4 of storage data/0, which holds 4 F32 elements`},
		{"overlapping-storages", `torch: invalid checkpoint: storages data/0 and data/1 overlap in the file`},
		{"pickle-size-lies", `torch: invalid checkpoint: archive/data.pkl declares 162 bytes; reading it failed after 162 bytes: zip: checksum error`},
		{"pickle-without-stop", `data.pkl byte 166: torch: invalid checkpoint: pickle ends without STOP`},
		{"stack-underflow", `data.pkl byte 3: torch: invalid checkpoint: stack underflow`},
		{"storage-past-eof", `tensor "w": torch: invalid checkpoint: storage data/0 declares 2147483632 bytes at offset 257, past the end of the file (525 bytes)`},
		{"storage-sizes-disagree", `tensor "w": torch: invalid checkpoint: storage data/0 is stored but declares 16 bytes compressed and 12 uncompressed`},
		{"storage-smaller-than-declared", `tensor "w": torch: invalid checkpoint: storage data/0 holds 12 bytes, but the pickle declares 4 F32 elements`},
		{"storage-too-small-for-shape", `tensor "w": torch: invalid checkpoint: size [3 3] stride [3 1] offset 0 reaches element 8 of storage data/0, which holds 4 F32 elements`},
		{"stride-overflow", `tensor "w": torch: invalid checkpoint: size [4 2] stride [9223372036854775807 1] offset 0 overflows`},
		{"truncated", `torch: invalid checkpoint: zip: not a valid zip file`},
		{"zip-bomb-declared", `torch: invalid checkpoint: archive/data.pkl declares 41943048 bytes, the limit is 33554432`},
		{"zip-bomb-lying", `torch: invalid checkpoint: archive/data.pkl declares 100 bytes; reading it failed after 0 bytes: zip: not a valid zip file`},
	}
	for _, c := range cases {
		path := filepath.Join("testdata", "hostile", c.file+".pt")
		f, err := Open(path)
		if err == nil {
			f.Close()
		}
		want := path + ": " + c.want
		if err == nil || err.Error() != want || !errors.Is(err, ErrFormat) {
			t.Errorf("%s:\n got %v\nwant %s", c.file, err, want)
		}
	}
	if entries, _ := os.ReadDir("testdata/hostile"); len(entries) != len(cases)+2 {
		t.Errorf("testdata/hostile holds %d files, the table covers %d (+ valid.pt and storage-two-dtypes.pt)", len(entries), len(cases))
	}
}

// valid.pt is the archive the hostile files were derived from; it must open, or the
// failures above would prove nothing.
func TestHostileBaseIsValid(t *testing.T) {
	f, err := Open("testdata/hostile/valid.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := f.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.F32(); len(got) != 4 || got[0] != 1 || got[3] != 4 {
		t.Fatalf("w = %v, want [1 2 3 4]", got)
	}
}

func TestCorruptStorageFailsCRC(t *testing.T) {
	b, err := os.ReadFile("testdata/hostile/valid.pt")
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(b), "\x00\x00\x80\x3f") // 1.0f, the first element of w
	if at < 0 {
		t.Fatal("storage bytes not found")
	}
	b[at+3] = 0x40
	f, err := OpenReader(strings.NewReader(string(b)), int64(len(b)), "corrupt.pt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Load("w")
	want := "corrupt.pt: tensor \"w\": torch: invalid checkpoint: storage data/0 fails its CRC-32 check"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %s…", err, want)
	}
}

// The bombs must stay bombs: small files whose data.pkl inflates past MaxPickleSize.
func TestZipBombsAreSmall(t *testing.T) {
	for _, name := range []string{"zip-bomb-declared", "zip-bomb-lying"} {
		st, err := os.Stat(filepath.Join("testdata", "hostile", name+".pt"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 64<<10 {
			t.Errorf("%s is %d bytes; a zip bomb should be tiny next to the %d bytes it inflates to", name, st.Size(), MaxPickleSize)
		}
	}
}

// TestStorageKeepsFirstDType: a storage referenced as FloatStorage and then as
// DoubleStorage is float32 for both tensors, as torch.load makes it (persistent_load keeps
// the first typed storage of a key in loaded_storages, torch/serialization.py of 1.13).
func TestStorageKeepsFirstDType(t *testing.T) {
	f, err := Open("testdata/hostile/storage-two-dtypes.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, want := range map[string][]float32{"a": {1, 2, 3, 4}, "b": {1, 2}} {
		x, err := f.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType != tensor.F32 || !reflect.DeepEqual(x.ToF32(), want) {
			t.Errorf("%s: %s %v, want F32 %v", name, x.DType, x.ToF32(), want)
		}
	}
}
