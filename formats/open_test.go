package formats

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// copyAs copies a fixture into a temporary folder under a new name, to test files whose
// extension lies.
func copyAs(t *testing.T, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestOpenEveryFormat(t *testing.T) {
	cases := []struct {
		path, format, firstTensor string
		tensors                   int
	}{
		{"safetensors/testdata/real/all-dtypes.safetensors", "safetensors", "bf16", 16},
		{"safetensors/testdata/real/sharded/model.safetensors.index.json", "safetensors index", "embed.weight", 4},
		{"npy/testdata/real/f32.npy", "npy", "f32", 1},
		{"npy/testdata/real/arrays.npz", "npz", "f32", 6},
		{"torch/testdata/plain.pt", "PyTorch .pt", "", -1},
		{"onnx/testdata/external.onnx", "ONNX", "", -1},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			f, err := Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Format != c.format || f.Path != c.path {
				t.Errorf("Format %q Path %q", f.Format, f.Path)
			}
			infos := f.Tensors()
			if c.tensors >= 0 && len(infos) != c.tensors {
				t.Errorf("%d tensors, want %d", len(infos), c.tensors)
			}
			if c.firstTensor != "" && infos[0].Name != c.firstTensor {
				t.Errorf("first tensor %q, want %q", infos[0].Name, c.firstTensor)
			}
			if len(infos) > 0 {
				if _, err := f.Load(infos[0].Name); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestOpenMismatch(t *testing.T) {
	cases := []struct{ src, name, err string }{
		{"torch/testdata/plain.pt", "x.safetensors", "looks like a zip archive (PyTorch .pt?), not safetensors"},
		{"npy/testdata/real/arrays.npz", "x.pt", "looks like a zip archive of .npy files (.npz?), not PyTorch .pt"},
		{"torch/testdata/plain.pt", "x.npz", "looks like a zip archive (PyTorch .pt?), not npz"},
		{"safetensors/testdata/real/all-dtypes.safetensors", "x.npy", "looks like a safetensors file, not npy"},
		{"npy/testdata/real/f32.npy", "x.onnx", "looks like a NumPy .npy file, not ONNX"},
		{"npy/testdata/real/f32.npy", "x.safetensors.index.json", "looks like a NumPy .npy file, not safetensors index"},
		{"safetensors/testdata/real/sharded.expected.json", "x.safetensors", "looks like JSON text, not safetensors"},
		{"torch/testdata/legacy.pt", "x.npy", "looks like a pickle (legacy PyTorch .pt?), not npy"},
		{"onnx/testdata/external.onnx", "x.npz", "looks like a protobuf message (ONNX?), not npz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := copyAs(t, c.src, c.name)
			_, err := Open(path)
			var mismatch *MismatchError
			if !errors.As(err, &mismatch) || err.Error() != path+" "+c.err {
				t.Fatalf("got %v\nwant %s %s", err, path, c.err)
			}
		})
	}
}

func TestOpenWithoutExtension(t *testing.T) {
	path := copyAs(t, "safetensors/testdata/real/all-dtypes.safetensors", "blob")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f.Format != "safetensors" {
		t.Errorf("sniffed %q", f.Format)
	}
	path = copyAs(t, "safetensors/testdata/real/sharded.expected.json", "blob")
	_, err = Open(path)
	want := path + ": formats: unknown file format: the extension is none of .safetensors.index.json .safetensors .npy .npz .pt .pth .bin .onnx .gguf, and the content looks like JSON text"
	if !errors.Is(err, ErrUnknownFormat) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestOpenErrorsNamePathOnce(t *testing.T) {
	path := "safetensors/testdata/offsets-overlap.safetensors"
	_, err := Open(path)
	want := path + `: tensor "b": safetensors: data_offsets overlap: begins at 4, inside tensor "a" which ends at 8`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if _, err := Open("missing.safetensors"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	want = dir + " is a folder, not a checkpoint file (a sharded safetensors checkpoint opens through its .safetensors.index.json)"
	if _, err := Open(dir); err == nil || err.Error() != want {
		t.Errorf("folder: got %v\nwant %s", err, want)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
	want = dir + " is a Hugging Face model folder, not a checkpoint file: recipes/llm.lua and recipes/gguf.lua take the folder; a checkpoint is one of its weight files (model.safetensors, model.safetensors.index.json)"
	if _, err := Open(dir); err == nil || err.Error() != want {
		t.Errorf("model folder: got %v\nwant %s", err, want)
	}
}

func TestDescribeUnknownBytes(t *testing.T) {
	if got := Describe([]byte("junkjunkjunk")); got != "unrecognized data (first bytes 6a 75 6e 6b 6a 75 6e 6b)" {
		t.Errorf("Describe = %q", got)
	}
}
