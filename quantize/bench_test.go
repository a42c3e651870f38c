package quantize

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// benchModel writes a one-Linear f32 checkpoint of rows×cols.
func benchModel(b *testing.B, rows, cols int) string {
	b.Helper()
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)*0.37)) * 0.02
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	writeSafetensors(b, path, map[string]*tensor.Tensor{"layer.weight": tensor.FromF32([]int{rows, cols}, w)})
	return path
}

func benchmarkModel(b *testing.B, dtype string, do func(*Model) error) {
	path := benchModel(b, 4096, 4096)
	f := openModelB(b, path)
	opts := DefaultOptions()
	opts.Weights.DType = dtype
	b.SetBytes(4096 * 4096 * 4)
	b.ResetTimer()
	for range b.N {
		q, err := Quantize(context.Background(), f, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := do(q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReport(b *testing.B) {
	for _, dtype := range []string{"int8", "int4", "fp8_e4m3", "fp16"} {
		b.Run(dtype, func(b *testing.B) {
			benchmarkModel(b, dtype, func(q *Model) error { _, err := q.Report(context.Background()); return err })
		})
	}
}

func BenchmarkSave(b *testing.B) {
	for _, dtype := range []string{"int8", "int4", "fp8_e4m3", "fp16"} {
		b.Run(dtype, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out.safetensors")
			benchmarkModel(b, dtype, func(q *Model) error { return q.Save(context.Background(), out, SaveOptions{}) })
		})
	}
}
