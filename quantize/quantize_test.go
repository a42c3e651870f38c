package quantize

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/formats"
)

const (
	examplePT          = "../examples/models/digits_cnn.pt"
	exampleSafetensors = "../examples/models/digits_cnn.safetensors"
)

func openModel(t *testing.T, path string) *formats.File {
	t.Helper()
	f, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestSmokeInt8(t *testing.T) {
	ctx := context.Background()
	for _, src := range []string{examplePT, exampleSafetensors} {
		m := openModel(t, src)
		opts := DefaultOptions()
		opts.Skip = Names("conv1")
		q, err := Quantize(ctx, m, opts)
		if err != nil {
			t.Fatal(err)
		}
		r, err := q.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + r.String())
		out := filepath.Join(t.TempDir(), "out.safetensors")
		if err := q.Save(ctx, out, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		o := openModel(t, out)
		for _, info := range o.Tensors() {
			t.Log(info.Name, info.DType, info.Shape)
		}
		t.Log(o.Metadata())
	}
}
