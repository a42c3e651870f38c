package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dataPkl returns the data.pkl of an archive's bytes.
func dataPkl(tb testing.TB, archive []byte) []byte {
	tb.Helper()
	b, err := readDataPkl(archive)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func readDataPkl(archive []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		return nil, err
	}
	for _, f := range zr.File {
		if filepath.Base(f.Name) == "data.pkl" && f.UncompressedSize64 <= MaxPickleSize {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(io.LimitReader(rc, MaxPickleSize))
		}
	}
	return nil, errors.New("no data.pkl")
}

func seedFiles(tb testing.TB) [][]byte {
	var out [][]byte
	for _, pattern := range []string{"testdata/*.pt", "testdata/malicious/*.pt", "testdata/hostile/*.pt"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			// The bombs and the memo fan-out are slow by design (each run inflates or walks
			// up to a cap); their unit tests cover them, and as seeds they starve the fuzzer.
			base := filepath.Base(p)
			if strings.HasPrefix(base, "zip-bomb") || base == "memo-fanout.pt" {
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// FuzzTorch opens whole archives and loads every tensor: any input may fail, none may
// panic or load a tensor whose bytes disagree with its dtype and shape.
func FuzzTorch(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := OpenReader(bytes.NewReader(b), int64(len(b)), "fuzz.pt")
		if err != nil {
			return
		}
		for _, info := range file.Tensors() {
			x, err := file.Load(info.Name)
			if err != nil {
				continue
			}
			if len(x.Data) != x.Nbytes() || x.DType != info.DType {
				t.Fatalf("%s: %v %v with %d bytes", info.Name, x.DType, x.Shape, len(x.Data))
			}
		}
	})
}

// FuzzPickle runs the unpickler alone on data.pkl contents.
func FuzzPickle(f *testing.F) {
	for _, b := range seedFiles(f) {
		if pkl, err := readDataPkl(b); err == nil && len(pkl) < 64<<10 {
			f.Add(pkl)
		}
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		root, err := unpickle(pkl, loadPersistentID)
		if err != nil {
			return
		}
		flattenCheckpoint(root, len(pkl))
	})
}
