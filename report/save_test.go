package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSave(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	if err := r.SaveJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	if err := r.SaveHTML(htmlPath); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != r.String() {
		t.Error("saved JSON reads back as a different report")
	}
	page, _ := os.ReadFile(htmlPath)
	if !strings.HasPrefix(string(page), "<!DOCTYPE html>") {
		t.Errorf("HTML file starts with %.40q", page)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestSaveIntoMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "r.html")
	err := sampleReport().SaveHTML(path)
	if err == nil || !strings.HasPrefix(err.Error(), "report: atomicfile: ") {
		t.Fatalf("got %v", err)
	}
}

// failingWriter fails after n bytes, like a full disk.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, os.ErrClosed
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteErrorsSurface(t *testing.T) {
	r := sampleReport()
	if err := r.WriteHTML(&failingWriter{100}); err == nil {
		t.Error("WriteHTML: no error from a failing writer")
	}
	if err := r.WriteJSON(&failingWriter{100}); err == nil {
		t.Error("WriteJSON: no error from a failing writer")
	}
	if err := r.WriteTable(&failingWriter{100}); err == nil {
		t.Error("WriteTable: no error from a failing writer")
	}
}
