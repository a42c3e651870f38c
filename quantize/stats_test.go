package quantize

import (
	"context"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/tensor"
)

// countingModel counts the tensors loaded from it.
type countingModel struct {
	formats.Model
	loads *atomic.Int64
}

func (c countingModel) Load(name string) (*tensor.Tensor, error) {
	c.loads.Add(1)
	return c.Model.Load(name)
}

// A report asked for after a save reads nothing (the save measured the weights it wrote),
// and has the same figures as one measured in a pass of its own before the save.
func TestReportAfterSaveIsMeasuredBySave(t *testing.T) {
	ctx := context.Background()
	for _, src := range []string{examplePT, exampleSafetensors, exampleONNX} {
		m := openModel(t, src)
		for _, dtype := range WeightDTypes {
			for _, layout := range Layouts {
				opts := DefaultOptions()
				opts.Weights.DType = dtype
				out := filepath.Join(t.TempDir(), "o.safetensors")

				before, err := Quantize(ctx, m, opts)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := before.Report(ctx); err != nil {
					t.Fatal(err)
				}
				if err := before.Save(ctx, out, SaveOptions{Layout: layout}); err != nil {
					t.Fatal(err)
				}
				want, err := before.Report(ctx)
				if err != nil {
					t.Fatal(err)
				}

				var loads atomic.Int64
				// Load is counted: the wrapped reader has no positioned reads. (An ONNX
				// model is not wrapped: its layers come from its graph, which the wrapper
				// would hide.)
				var after *Model
				if m.Format == "ONNX" {
					after, err = Quantize(ctx, m, opts)
				} else {
					after, err = Quantize(ctx, &formats.File{Model: countingModel{m.Model, &loads}, Path: m.Path, Format: m.Format}, opts)
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := after.Save(ctx, out, SaveOptions{Layout: layout}); err != nil {
					t.Fatal(err)
				}
				saved := loads.Load()
				got, err := after.Report(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n := loads.Load() - saved; n != 0 {
					t.Errorf("%s %s %s: the report after the save loaded %d tensors", src, dtype, layout, n)
				}
				if got.Output != out || want.Output != out {
					t.Errorf("%s %s %s: output %q and %q, want %q", src, dtype, layout, got.Output, want.Output, out)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s %s: the report after the save differs from the one before it:\n%#v\n%#v", src, dtype, layout, *got, *want)
				}
			}
		}
	}
}
