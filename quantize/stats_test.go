package quantize

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
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

				before, err := PlanWeights(ctx, m, opts)
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
				var after *WeightPlan
				if m.Format == "ONNX" {
					after, err = PlanWeights(ctx, m, opts)
				} else {
					after, err = PlanWeights(ctx, &formats.File{Model: countingModel{m.Model, &loads}, Path: m.Path, Format: m.Format}, opts)
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
				if err := errors.Join(got.FillHistograms(), want.FillHistograms()); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s %s: the report after the save differs from the one before it:\n%#v\n%#v", src, dtype, layout, *got, *want)
				}
			}
		}
	}
}

// statsCase is a weight for the statistics kernels' tests.
type statsCase struct {
	name  string
	shape []int
	axis  int
	x     []float32
}

func statsCases() []statsCase {
	rng := rand.New(rand.NewPCG(1, 2))
	gauss := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		return x
	}
	// Values on the histogram's bin edges (Min + i·w for 64 bins over [-1, 1]) and next
	// to them, where a float32 and a float64 formula could disagree.
	edges := make([]float32, 0, 64*4*3)
	for i := 0; i <= 64; i++ {
		e := float32(-1 + float64(i)*2/64)
		edges = append(edges, e, math.Nextafter32(e, -2), math.Nextafter32(e, 2))
	}
	edges = append(edges, make([]float32, 196*4-len(edges))...)
	for i := len(edges) - 64*3 - 1; i < len(edges); i++ {
		edges[i] = float32(rng.Float64()*2 - 1)
	}
	edges[len(edges)-1], edges[len(edges)-2] = -1, 1
	constant := make([]float32, 64*48)
	for i := range constant {
		constant[i] = 0.25
	}
	return []statsCase{
		{"gaussian linear", []int{300, 1000}, 0, gauss(300*1000, 0.02)},
		{"gaussian conv", []int{64, 32, 3, 3}, 0, gauss(64*32*9, 0.1)},
		{"matmul [in, out]", []int{200, 96}, 1, gauss(200*96, 0.05)},
		{"bin edges", []int{4, 196}, 0, edges},
		{"constant", []int{64, 48}, 0, constant},
		{"all zero", []int{8, 40}, 0, make([]float32, 8*40)},
		{"tiny values (float64 sums)", []int{16, 64}, 0, gauss(16*64, 1e-12)},
		{"huge values (float64 sums)", []int{16, 64}, 0, gauss(16*64, 1e12)},
		{"full float32 range (float64 bins)", []int{2, 3}, 0, []float32{-math.MaxFloat32, 0, 1, 2, 3, math.MaxFloat32}},
	}
}

// The statistics kernels give the histogram of report.NewHistogram exactly, and the
// error metrics of quant.Compare (float64 sums) on the dequantized weight to 1e-6.
func TestStatsMatchReference(t *testing.T) {
	for _, c := range statsCases() {
		l := layer.Layer{Name: "w", Type: "Linear", Weight: "w.weight", Shape: c.shape, DType: tensor.F32, Axis: c.axis}
		for _, dtype := range WeightDTypes {
			for _, perChannel := range []bool{true, false} {
				for _, symmetric := range []bool{true, false} {
					opts := DefaultOptions()
					opts.Weights = WeightOptions{DType: dtype, PerChannel: perChannel, Symmetric: symmetric}
					ws, err := newWeightScheme(opts)
					if err != nil {
						t.Fatal(err)
					}
					if ws.unsupported(l) != "" {
						continue
					}
					name := fmt.Sprintf("%s %s per_channel=%v symmetric=%v", c.name, dtype, perChannel, symmetric)
					lw, err := (&workspace{}).quantizeLayer(ws, l, tensor.FromF32(c.shape, slices.Clone(c.x)))
					if err != nil {
						if c.name == "full float32 range (float64 bins)" && strings.Contains(err.Error(), "scale") {
							continue // no finite affine scale spans ±MaxFloat32
						}
						t.Fatalf("%s: %v", name, err)
					}
					got := lw.stats(HistogramBins)
					if want := report.NewHistogram(c.x, HistogramBins); !reflect.DeepEqual(got.histogram, want) {
						t.Errorf("%s: histogram\n%+v, want\n%+v", name, got.histogram, want)
					}
					y := make([]float32, len(c.x))
					lw.dequantizeTo(y, 0)
					want, err := quant.Compare(c.x, y)
					if err != nil {
						t.Fatal(err)
					}
					e := got.errors
					if !within(e.MSE, want.MSE, 1e-6) || !within(e.SQNR, want.SQNR, 1e-6) || !within(e.Cosine, want.Cosine, 1e-6) ||
						!within(e.MaxAbs, want.MaxAbs, 1e-6) {
						t.Errorf("%s: errors %+v, float64 reference %+v", name, e, want)
					}
				}
			}
		}
	}
}
