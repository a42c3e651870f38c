package onnx

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
)

// npyArray is one array of an .npz written by numpy: its dtype descr, shape and raw bytes.
type npyArray struct {
	descr string
	shape []int
	data  []byte
}

var npyHeader = regexp.MustCompile(`'descr':\s*'([^']+)',\s*'fortran_order':\s*(True|False),\s*'shape':\s*\(([^)]*)\)`)

// readNPZ reads the fixtures' expected values. Test-only: it trusts numpy's output.
func readNPZ(t *testing.T, path string) map[string]npyArray {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]npyArray{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		arr, err := parseNPY(b)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, f.Name, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = arr
	}
	return out
}

func parseNPY(b []byte) (npyArray, error) {
	if !bytes.HasPrefix(b, []byte("\x93NUMPY")) || len(b) < 10 {
		return npyArray{}, fmt.Errorf("not npy")
	}
	var hlen, start int
	if b[6] == 1 {
		hlen, start = int(b[8])|int(b[9])<<8, 10
	} else {
		hlen, start = int(b[8])|int(b[9])<<8|int(b[10])<<16|int(b[11])<<24, 12
	}
	m := npyHeader.FindStringSubmatch(string(b[start : start+hlen]))
	if m == nil || m[2] != "False" {
		return npyArray{}, fmt.Errorf("unexpected header %q", b[start:start+hlen])
	}
	var shape []int
	for _, s := range strings.Split(m[3], ",") {
		if s = strings.TrimSpace(s); s != "" {
			var d int
			fmt.Sscan(s, &d)
			shape = append(shape, d)
		}
	}
	return npyArray{descr: m[1], shape: shape, data: b[start+hlen:]}, nil
}
