package torch

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// The fixtures were written by torch 1.13 (scripts/fixtures/torch_fixtures.py); each
// CASE.expected.npz holds torch's own contiguous copy of every tensor.

type fixtureCase struct {
	Tensors []struct {
		Name  string
		DType string
		Shape []int
	}
	Metadata map[string]string
}

func readManifest(t *testing.T) map[string]fixtureCase {
	t.Helper()
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]fixtureCase
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) < 15 {
		t.Fatalf("manifest lists %d cases, expected at least 15", len(m))
	}
	return m
}

func TestFixturesMatchTorch(t *testing.T) {
	for name, want := range readManifest(t) {
		t.Run(name, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			expected := readNpz(t, filepath.Join("testdata", name+".expected.npz"))

			var gotNames, wantNames []string
			for _, info := range f.Tensors() {
				gotNames = append(gotNames, info.Name)
			}
			for _, w := range want.Tensors {
				wantNames = append(wantNames, w.Name)
			}
			if !reflect.DeepEqual(gotNames, wantNames) {
				t.Fatalf("tensor names\n got %q\nwant %q", gotNames, wantNames)
			}
			for i, info := range f.Tensors() {
				w := want.Tensors[i]
				if info.DType.String() != w.DType || !slices.Equal(info.Shape, w.Shape) {
					t.Errorf("%s: info %v %v, want %s %v", w.Name, info.DType, info.Shape, w.DType, w.Shape)
				}
				got, err := f.Load(w.Name)
				if err != nil {
					t.Fatalf("Load(%q): %v", w.Name, err)
				}
				exp := expected[w.Name]
				if exp == nil {
					t.Fatalf("%s: missing from the expected npz", w.Name)
				}
				if !slices.Equal(got.Shape, exp.shape) || !slices.Equal(got.Shape, w.Shape) {
					t.Errorf("%s: loaded shape %v, torch %v", w.Name, got.Shape, exp.shape)
				}
				if got.Strides != nil || got.Offset != 0 {
					t.Errorf("%s: Load returned strides %v offset %d, want C-contiguous", w.Name, got.Strides, got.Offset)
				}
				if !bytes.Equal(got.Data, exp.data) {
					t.Errorf("%s: %d bytes differ from torch's %d bytes\n got % x\nwant % x", w.Name, len(got.Data), len(exp.data), head(got.Data), head(exp.data))
				}
			}
			wantMeta := want.Metadata
			if wantMeta == nil {
				wantMeta = map[string]string{}
			}
			if got := f.Metadata(); !reflect.DeepEqual(got, wantMeta) {
				t.Errorf("metadata %v, want %v", got, wantMeta)
			}
		})
	}
}

// TestFixturesThroughReaderAt covers the path without a memory map.
func TestFixturesThroughReaderAt(t *testing.T) {
	for name, want := range readManifest(t) {
		b, err := os.ReadFile(filepath.Join("testdata", name+".pt"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := OpenReader(bytes.NewReader(b), int64(len(b)), name+".pt")
		if err != nil {
			t.Fatal(err)
		}
		expected := readNpz(t, filepath.Join("testdata", name+".expected.npz"))
		for _, w := range want.Tensors {
			got, err := f.Load(w.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, expected[w.Name].data) {
				t.Errorf("%s: %s differs from torch", name, w.Name)
			}
		}
	}
}

func TestTiedWeightsShareOneStorage(t *testing.T) {
	f, err := Open("testdata/tied.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := f.entries["embed.weight"], f.entries["head.weight"]
	if a == nil || b == nil || a.storage.key != b.storage.key {
		t.Fatalf("tied weights should resolve to one storage: %+v %+v", a, b)
	}
}

func TestRefusedFiles(t *testing.T) {
	cases := []struct {
		file string
		is   error
		want string
	}{
		{"legacy.pt", ErrLegacyFormat, "testdata/legacy.pt: torch: legacy PyTorch format (torch < 1.6); re-save it with torch ≥ 1.6: torch.save(torch.load(f), f)"},
		{"torchscript.pt", ErrTorchScript, "testdata/torchscript.pt: torch: TorchScript archive, not a checkpoint; save the weights instead: torch.save(model.state_dict(), f)"},
		{"whole_module.pt", ErrForbiddenGlobal, `testdata/whole_module.pt: data.pkl byte 2: torch: global not allowed: "torch.nn.modules.linear.Linear"; only tensors, storages, OrderedDict and plain containers are loaded (as torch.load(weights_only=True) does) and nothing in the pickle was run`},
	}
	for _, c := range cases {
		_, err := Open(filepath.Join("testdata", c.file))
		if !errors.Is(err, c.is) || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.file, err, c.want)
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 32)] }

// npyArray is an array from a .npy file: its shape and its little-endian C-order bytes.
type npyArray struct {
	shape []int
	data  []byte
}

// readNpz reads an uncompressed .npz written by np.savez, with a minimal .npy parser
// that accepts only what the fixtures use: little-endian or one-byte dtypes, C order.
func readNpz(t *testing.T, path string) map[string]*npyArray {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]*npyArray{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseNpy(buf.Bytes())
		if err != nil {
			t.Fatalf("%s: %s: %v", path, zf.Name, err)
		}
		out[strings.TrimSuffix(zf.Name, ".npy")] = a
	}
	return out
}

var npyHeaderRe = regexp.MustCompile(`^\{'descr': '([<|][a-z]\d)', 'fortran_order': False, 'shape': \(([\d, ]*)\), \}\s*$`)

func parseNpy(b []byte) (*npyArray, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		return nil, fmt.Errorf("not a version 1 .npy")
	}
	n := int(b[8]) | int(b[9])<<8
	if 10+n > len(b) {
		return nil, fmt.Errorf("header past the end")
	}
	m := npyHeaderRe.FindStringSubmatch(string(b[10 : 10+n]))
	if m == nil {
		return nil, fmt.Errorf("unexpected header %q", b[10:10+n])
	}
	a := &npyArray{data: b[10+n:]}
	for _, s := range strings.Split(m[2], ",") {
		if s = strings.TrimSpace(s); s != "" {
			d, err := strconv.Atoi(s)
			if err != nil {
				return nil, err
			}
			a.shape = append(a.shape, d)
		}
	}
	size, _ := strconv.Atoi(m[1][2:])
	numel, err := tensor.Numel(a.shape)
	if err != nil || numel*size != len(a.data) {
		return nil, fmt.Errorf("%s %v needs %d bytes, have %d", m[1], a.shape, numel*size, len(a.data))
	}
	return a, nil
}

// TestLoadAfterClose: the mapping is gone after Close, so Load must refuse rather than read it.
func TestLoadAfterClose(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "plain.pt"))
	if err != nil {
		t.Fatal(err)
	}
	name := f.Tensors()[0].Name
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = f.Load(name)
	if want := `testdata/plain.pt: tensor "` + name + `": torch: file is closed`; err == nil || err.Error() != want {
		t.Errorf("Load after Close: %v, want %s", err, want)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
