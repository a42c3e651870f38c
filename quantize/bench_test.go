package quantize

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
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

func benchmarkModel(b *testing.B, dtype string, do func(*WeightPlan) error) {
	path := benchModel(b, 4096, 4096)
	f := openModelB(b, path)
	opts := DefaultOptions()
	opts.Weights.DType = dtype
	b.SetBytes(4096 * 4096 * 4)
	b.ResetTimer()
	for range b.N {
		q, err := PlanWeights(context.Background(), f, opts)
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
			benchmarkModel(b, dtype, func(q *WeightPlan) error { _, err := q.Report(context.Background()); return err })
		})
	}
}

func BenchmarkSave(b *testing.B) {
	for _, dtype := range []string{"int8", "int4", "fp8_e4m3", "fp16"} {
		b.Run(dtype, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out.safetensors")
			benchmarkModel(b, dtype, func(q *WeightPlan) error { return q.Save(context.Background(), out, SaveOptions{}) })
		})
	}
}

// BenchmarkStats measures the report's statistics of one quantized 4096×4096 weight
// (dequantize, error sums, range and histogram), the work Save adds for the report; the
// bytes are the f32 source's.
func BenchmarkStats(b *testing.B) {
	const rows, cols = 4096, 4096
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 0.02
	}
	l := layer.Layer{Name: "layer", Type: "Linear", Weight: "layer.weight", Shape: []int{rows, cols}, DType: tensor.F32}
	for _, dtype := range []string{"int8", "int4", "fp8_e4m3", "fp16"} {
		b.Run(dtype, func(b *testing.B) {
			opts := DefaultOptions()
			opts.Weights.DType = dtype
			ws, err := newWeightScheme(opts)
			if err != nil {
				b.Fatal(err)
			}
			lw, err := (&workspace{}).quantizeLayer(ws, l, tensor.FromF32(l.Shape, x))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(rows * cols * 4)
			for b.Loop() {
				lw.stats(HistogramBins)
			}
		})
	}
}

// BenchmarkStatsKernel measures the fused statistics kernels alone on one cached chunk of
// chunkElems values (one goroutine): dequantize, error sums and histogram counts.
func BenchmarkStatsKernel(b *testing.B) {
	x := make([]float32, chunkElems)
	codes := make([]int8, chunkElems)
	y := make([]float32, chunkElems)
	const scale = 0.02 / 127
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 0.02
		codes[i] = int8(math.RoundToEven(float64(x[i] / scale)))
		y[i] = float32(codes[i]) * scale
	}
	h := &report.Histogram{Min: -0.02, Max: 0.02, Counts: make([]int64, HistogramBins)}
	binning := h.Binning()
	counts := make([]int64, HistogramBins+1)
	b.Run("codes", func(b *testing.B) {
		b.SetBytes(chunkElems * 4)
		for b.Loop() {
			var s quant.StatsAcc
			s.AddCodes(counts, x, codes, scale, 0, binning.Lo, binning.Inv)
		}
	})
	b.Run("floats", func(b *testing.B) {
		b.SetBytes(chunkElems * 4)
		for b.Loop() {
			var s quant.StatsAcc
			s.AddFloats(counts, x, y, binning.Lo, binning.Inv)
		}
	})
	b.Run("float64-reference", func(b *testing.B) {
		b.SetBytes(chunkElems * 4)
		for b.Loop() {
			var s quant.ErrorSums
			s.Add(x, y)
			h.Add(x)
		}
	})
}
