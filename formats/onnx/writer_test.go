package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestWriteRoundTrip: read a fixture, write it, read it back: the protos are identical.
func TestWriteRoundTrip(t *testing.T) {
	for _, name := range []string{"raw", "typed", "torch_linear_conv"} {
		t.Run(name, func(t *testing.T) {
			orig, err := Open(filepath.Join("testdata", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			defer orig.Close()
			out := filepath.Join(t.TempDir(), name+".onnx")
			if err := Write(out, orig.Proto(), nil); err != nil {
				t.Fatal(err)
			}
			back, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if !proto.Equal(orig.Proto(), back.Proto()) {
				t.Error("written model differs from the original")
			}
			if _, err := os.Stat(out + ".data"); !os.IsNotExist(err) {
				t.Errorf("small model wrote a data file (%v)", err)
			}
		})
	}
}

// TestWriteExternal moves initializers into <name>.onnx.data and back inline, and checks
// every tensor survives bit for bit with page-aligned offsets.
func TestWriteExternal(t *testing.T) {
	src, err := Open("testdata/external.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := readNPZ(t, "testdata/external.npz")
	dir := t.TempDir()

	check := func(path string, external bool) {
		t.Helper()
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, tp := range f.Proto().Graph.Initializer {
			isExt := tp.GetDataLocation() == 1
			if isExt != (external && tp.GetName() != "scalar") {
				t.Errorf("%s: %s external=%v", path, tp.GetName(), isExt)
			}
			for _, e := range tp.ExternalData {
				if e.GetKey() == "offset" {
					if off, _ := strconv.Atoi(e.GetValue()); off%externalAlign != 0 {
						t.Errorf("%s offset %d not aligned", tp.GetName(), off)
					}
				}
			}
			got, err := f.Load(tp.GetName())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, want[tp.GetName()].data) {
				t.Errorf("%s: %s differs", path, tp.GetName())
			}
		}
	}

	inline := filepath.Join(dir, "inline.onnx")
	if err := Write(inline, src.Proto(), &WriteOptions{External: ExternalAuto, SourceDir: src.Dir()}); err != nil {
		t.Fatal(err)
	}
	check(inline, false)

	ext := filepath.Join(dir, "ext.onnx")
	if err := Write(ext, src.Proto(), &WriteOptions{External: ExternalAlways, MinExternalBytes: 5, SourceDir: src.Dir()}); err != nil {
		t.Fatal(err)
	}
	check(ext, true)
	if st, err := os.Stat(filepath.Join(dir, "ext.onnx.data")); err != nil || st.Size() != 2*externalAlign+10 {
		t.Errorf("data file: %v %v", st, err)
	}

	// Without SourceDir the writer cannot find the input's data and says so.
	err = Write(filepath.Join(dir, "lost.onnx"), src.Proto(), nil)
	if want := dir + `/lost.onnx: onnx: tensor "w_f32": uses external data external.onnx.data; set WriteOptions.SourceDir to the folder of the model it came from`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "lost.onnx")); !os.IsNotExist(err) {
		t.Error("failed write left a file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("folder holds %d files, want 3 (temporary files left?)", len(entries))
	}
}
