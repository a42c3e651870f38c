package mapfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenMapsAndReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.bin")
	want := bytes.Repeat([]byte("0123456789"), 1000)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len(want)) {
		t.Errorf("Size() = %d, want %d", f.Size(), len(want))
	}
	got := make([]byte, len(want))
	if _, err := f.ReaderAt().ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("ReaderAt reads other bytes than the file holds")
	}
	if m := f.Mapping(); m != nil {
		m[0] = 'X' // private mapping: the file must not change
		if err := f.Release(0, f.Size()); err != nil {
			t.Error(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
		t.Error("writing into the mapping changed the file")
	}
}

func TestOpenRefusesFolders(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || err.Error() != dir+": not a regular file (a folder)" {
		t.Errorf("Open(folder) = %v", err)
	}
}

func TestEmptyFileIsReadableUnmapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Mapping() != nil || f.Size() != 0 {
		t.Errorf("empty file: mapping %v, size %d", f.Mapping(), f.Size())
	}
}
