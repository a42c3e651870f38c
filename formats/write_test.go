package formats

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestConvertKeepsEveryTensor(t *testing.T) {
	src, err := Open("../examples/models/digits_cnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	for _, format := range []string{"safetensors", "pt"} {
		out := filepath.Join(dir, "m."+format)
		var meta map[string]string
		if format == "safetensors" {
			meta = map[string]string{"dataset": "digits"}
		}
		if err := Convert(context.Background(), out, format, src, meta); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Tensors()) != len(src.Tensors()) {
			t.Fatalf("%s: %d tensors, want %d", format, len(got.Tensors()), len(src.Tensors()))
		}
		for _, info := range src.Tensors() {
			a, err := src.Load(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			b, err := got.Load(info.Name)
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if a.DType != b.DType || !bytes.Equal(a.Contiguous().Data, b.Contiguous().Data) {
				t.Errorf("%s: tensor %q changed", format, info.Name)
			}
		}
		if format == "safetensors" && got.Metadata()["dataset"] != "digits" {
			t.Errorf("metadata not kept: %v", got.Metadata())
		}
		got.Close()
	}
	err = Convert(context.Background(), filepath.Join(dir, "x.pt"), "pt", src, map[string]string{"a": "b"})
	if err == nil || !strings.Contains(err.Error(), "hold no metadata") {
		t.Fatalf("metadata into .pt: got %v", err)
	}
}
