package npy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// expectedArray is what scripts/fixtures/gen_formats.py recorded from numpy.
type expectedArray struct {
	DType   string                   `json:"dtype"`
	Shape   []int                    `json:"shape"`
	Hex     string                   `json:"hex"`
	Members map[string]expectedArray `json:"members"`
}

func readExpected(t *testing.T) map[string]expectedArray {
	t.Helper()
	b, err := os.ReadFile("testdata/real/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]expectedArray
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func checkArray(t *testing.T, what string, got *tensor.Tensor, want expectedArray) {
	t.Helper()
	if got.DType.String() != want.DType || !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: %v %v, want %s %v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	wantBytes, _ := hex.DecodeString(want.Hex)
	if !bytes.Equal(got.Contiguous().Data, wantBytes) {
		t.Errorf("%s: data differs from numpy's bytes", what)
	}
}

func TestReadNumpyFiles(t *testing.T) {
	for file, want := range readExpected(t) {
		if want.Members != nil {
			continue
		}
		t.Run(file, func(t *testing.T) {
			f, err := OpenFile(filepath.Join("testdata/real", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			infos := f.Tensors()
			stem := file[:len(file)-len(".npy")]
			if len(infos) != 1 || infos[0].Name != stem {
				t.Fatalf("Tensors() = %v, want one named %q", infos, stem)
			}
			got, err := f.Load(stem)
			if err != nil {
				t.Fatal(err)
			}
			checkArray(t, file, got, want)
		})
	}
}

func TestFortranOrderIsTransposed(t *testing.T) {
	f, err := OpenFile("testdata/real/fortran.npy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Header().FortranOrder {
		t.Fatal("fixture is not Fortran-ordered")
	}
	got, _ := f.Load("fortran")
	if !got.IsContiguous() || len(got.Data) != 3*4*2*4 {
		t.Errorf("Load gave a strided tensor")
	}
}

func TestReadNumpyArchives(t *testing.T) {
	for file, want := range readExpected(t) {
		if want.Members == nil {
			continue
		}
		t.Run(file, func(t *testing.T) {
			a, err := OpenNPZFile(filepath.Join("testdata/real", file))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			infos := a.Tensors()
			if len(infos) != len(want.Members) {
				t.Fatalf("%d arrays, want %d", len(infos), len(want.Members))
			}
			for _, info := range infos {
				got, err := a.Load(info.Name)
				if err != nil {
					t.Fatal(err)
				}
				w, ok := want.Members[info.Name]
				if !ok {
					t.Fatalf("unexpected array %q", info.Name)
				}
				checkArray(t, info.Name, got, w)
			}
			if _, err := a.Load("nope"); err == nil || err.Error() != filepath.Join("testdata/real", file)+`: array "nope": npy: no such array` {
				t.Errorf("missing array: %v", err)
			}
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := readExpected(t)
	for _, name := range []string{"f64", "f32", "f16", "i64", "i32", "i16", "i8", "u8", "bool", "scalar", "empty", "fortran"} {
		src, err := OpenFile(filepath.Join("testdata/real", name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		tt, _ := src.Load(name)
		src.Close()
		out := filepath.Join(dir, name+".npy")
		if err := WriteFile(out, tt); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		if (10+int(b[8])+int(b[9])<<8)%64 != 0 {
			t.Errorf("%s: data not 64-byte aligned", name)
		}
		back, err := OpenFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := back.Load(name)
		back.Close()
		checkArray(t, name, got, want[name+".npy"])
	}
}

func TestWriteNPZRoundTrip(t *testing.T) {
	src, err := OpenNPZFile("testdata/real/arrays.npz")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var names []string
	for _, info := range src.Tensors() {
		names = append(names, info.Name)
	}
	want := readExpected(t)["arrays.npz"].Members
	for _, compress := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out.npz")
		if err := WriteNPZ(context.Background(), out, names, compress, src.Load); err != nil {
			t.Fatal(err)
		}
		a, err := OpenNPZFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range a.Tensors() {
			got, err := a.Load(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			checkArray(t, info.Name, got, want[info.Name])
		}
		a.Close()
		// numpy itself must read what we wrote, when it is available.
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			cmd := exec.Command("/usr/bin/python3", "-c", "import numpy,sys; z=numpy.load(sys.argv[1]); print(sorted(z.files))", out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("numpy.load: %v\n%s", err, msg)
			}
		}
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.npy")
	bf := tensor.New(tensor.BF16, 2)
	if err := WriteFile(out, bf); err == nil || err.Error() != out+": npy: cannot write: BF16 has no numpy dtype; convert it to F32 first" {
		t.Errorf("BF16: %v", err)
	}
	npz := filepath.Join(dir, "x.npz")
	err := WriteNPZ(context.Background(), npz, []string{"a", "b"}, false, func(name string) (*tensor.Tensor, error) {
		if name == "b" {
			return nil, errors.New("boom")
		}
		return tensor.New(tensor.F32, 1), nil
	})
	if err == nil || err.Error() != npz+`: array "b": boom` {
		t.Errorf("failing load: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestHeaderLengthFitsItsField: near 64 KiB the padding decides between version 1.0, whose
// length field has 16 bits, and 2.0. Every header must state its own length.
func TestHeaderLengthFitsItsField(t *testing.T) {
	versions := map[byte]bool{}
	for dims := 21820; dims < 21860; dims++ {
		shape := make([]int, dims)
		for i := range shape {
			shape[i] = 1
		}
		h, err := EncodeHeader(tensor.F32, shape)
		if err != nil {
			t.Fatal(err)
		}
		var stated, prefix int
		switch h[6] {
		case 1:
			stated, prefix = int(binary.LittleEndian.Uint16(h[8:])), 10
		case 2:
			stated, prefix = int(binary.LittleEndian.Uint32(h[8:])), 12
		}
		versions[h[6]] = true
		if stated != len(h)-prefix || len(h)%64 != 0 {
			t.Fatalf("%d dims: version %d header of %d bytes states %d", dims, h[6], len(h), stated)
		}
	}
	if !versions[1] || !versions[2] {
		t.Errorf("the shapes tried give versions %v; move the range to the 1.0/2.0 boundary", versions)
	}
}
