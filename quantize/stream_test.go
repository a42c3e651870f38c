package quantize

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// streamCheckpoint is a synthetic checkpoint with what the streaming save must handle:
// rows that do not divide a chunk, f16/bf16 weights, a Conv weight, biases and norms, an
// integer tensor, a MatMul-like weight and a tensor many chunks long.
func streamCheckpoint(t *testing.T, dir string) string {
	rng := rand.New(rand.NewPCG(1, 2))
	f32 := func(shape ...int) *tensor.Tensor {
		n := numel(shape)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.02)
			if rng.IntN(500) == 0 {
				v[i] *= 9
			}
		}
		return tensor.FromF32(shape, v)
	}
	to := func(x *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
		y, err := x.To(dt)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	steps := tensor.New(tensor.I64, 3)
	copy(steps.I64(), []int64{1, -2, 3})
	tensors := map[string]*tensor.Tensor{
		"model.embed_tokens.weight":              f32(50, 24),
		"model.layers.0.self_attn.q_proj.weight": f32(64, 300),
		"model.layers.0.self_attn.q_proj.bias":   f32(64),
		"model.layers.0.mlp.up_proj.weight":      to(f32(40, 260), tensor.F16),
		"model.layers.0.mlp.down_proj.weight":    to(f32(24, 130), tensor.BF16),
		"model.layers.0.norm.weight":             f32(300),
		"conv.weight":                            f32(33, 7, 3, 3),
		"conv.bias":                              f32(33),
		"steps":                                  steps,
		"lm_head.weight":                         f32(301, 517),
	}
	path := filepath.Join(dir, "in.safetensors")
	writeSafetensors(t, path, tensors)
	return path
}

// TestStreamingSaveIdentical saves every weight dtype, granularity and layout through the
// streaming save (chunks of a few hundred elements, so every tensor is cut many times; and
// with the weights whose rows pass 1 KB quantized whole inside it) and through the
// whole-tensor save, and requires the same bytes. The reports must agree
// exactly except for the error figures, whose float64 sums are added in another order
// (chunk by chunk): they may differ by a few units in the last place, so 1e-12 relative.
func TestStreamingSaveIdentical(t *testing.T) {
	dir := t.TempDir()
	src := streamCheckpoint(t, dir)
	defer func(n, r int) { streamChunkElems, streamRowLimit = n, r }(streamChunkElems, streamRowLimit)
	type variant struct {
		dtype           string
		perChannel, sym bool
		group           int
	}
	var variants []variant
	for _, d := range []string{DTypeInt8, DTypeUInt8} {
		for _, pc := range []bool{true, false} {
			for _, sym := range []bool{true, false} {
				variants = append(variants, variant{d, pc, sym, 0})
			}
		}
	}
	for _, d := range []string{DTypeInt4, DTypeUInt4} {
		variants = append(variants, variant{d, true, d == DTypeInt4, 0}, variant{d, true, d == DTypeInt4, 64},
			variant{d, true, d == DTypeInt4, -1}, variant{d, false, d == DTypeInt4, -1})
	}
	for _, d := range []string{DTypeFP8E4M3, DTypeFP8E5M2} {
		variants = append(variants, variant{d, true, true, 0}, variant{d, false, true, 0})
	}
	variants = append(variants, variant{DTypeFP16, true, true, 0}, variant{DTypeBF16, true, true, 0})
	for _, v := range variants {
		for _, layout := range Layouts {
			for _, chunk := range []int{300, 1 << 17, -300} { // -300: chunks of 300, rows over 1 KB whole
				name := fmt.Sprintf("%s_pc%v_sym%v_g%d_%s_%d", v.dtype, v.perChannel, v.sym, v.group, layout, chunk)
				t.Run(name, func(t *testing.T) {
					opts := DefaultOptions()
					opts.Weights = WeightOptions{DType: v.dtype, PerChannel: v.perChannel, Symmetric: v.sym, GroupSize: v.group}
					opts.Types = []string{"Linear", "Conv"}
					streamChunkElems, streamRowLimit = chunk, streamBudget/4
					if chunk < 0 {
						streamChunkElems, streamRowLimit = -chunk, 1000
					}
					got, gotReport := saveWith(t, src, opts, layout, true)
					want, wantReport := saveWith(t, src, opts, layout, false)
					if !bytes.Equal(got, want) {
						t.Fatalf("streamed file differs from the whole-tensor save (%d vs %d bytes)", len(got), len(want))
					}
					sameReport(t, gotReport, wantReport)
				})
			}
		}
	}
}

func saveWith(t *testing.T, src string, opts Options, layout string, stream bool) ([]byte, *report.Report) {
	t.Helper()
	defer func(s bool) { streamSaves = s }(streamSaves)
	streamSaves = stream
	out := filepath.Join(t.TempDir(), "out.safetensors")
	q := quantizeAndSave(t, src, opts, out, SaveOptions{Layout: layout})
	r, err := q.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r.Output = ""
	// Histograms deferred by the streaming save are counted from the source here, while
	// it is open: the comparison covers them.
	if err := r.FillHistograms(); err != nil {
		t.Fatal(err)
	}
	return data, r
}

func sameReport(t *testing.T, got, want *report.Report) {
	t.Helper()
	if len(got.Layers) != len(want.Layers) {
		t.Fatalf("%d layers, want %d", len(got.Layers), len(want.Layers))
	}
	close := func(a, b float64) bool {
		return a == b || math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b)) || (math.IsInf(a, 1) && math.IsInf(b, 1))
	}
	for i, g := range got.Layers {
		w := want.Layers[i]
		if !close(g.SQNR, w.SQNR) || !close(g.MSE, w.MSE) || !close(g.Cosine, w.Cosine) || g.MaxAbsErr != w.MaxAbsErr {
			t.Errorf("%s: errors SQNR %v MSE %v cos %v max %v, want %v %v %v %v", g.Name, g.SQNR, g.MSE, g.Cosine, g.MaxAbsErr, w.SQNR, w.MSE, w.Cosine, w.MaxAbsErr)
		}
		if g.ScaleMin != w.ScaleMin || g.ScaleMax != w.ScaleMax {
			t.Errorf("%s: scales %v..%v, want %v..%v", g.Name, g.ScaleMin, g.ScaleMax, w.ScaleMin, w.ScaleMax)
		}
		if (g.Histogram == nil) != (w.Histogram == nil) || g.Histogram != nil &&
			(g.Histogram.Min != w.Histogram.Min || g.Histogram.Max != w.Histogram.Max || !slices.Equal(g.Histogram.Counts, w.Histogram.Counts)) {
			t.Errorf("%s: histogram %+v, want %+v", g.Name, g.Histogram, w.Histogram)
		}
		g.SQNR, g.MSE, g.Cosine, g.ScaleMin, g.ScaleMax, g.Histogram = w.SQNR, w.MSE, w.Cosine, w.ScaleMin, w.ScaleMax, w.Histogram
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("row %v, want %v", g, w)
		}
	}
	g, w := *got, *want
	g.Layers, w.Layers = nil, nil
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("report %v, want %v", g, w)
	}
}

// TestStreamingSaveSections streams from a safetensors file opened on an io.ReaderAt (not
// memory-mapped) and requires the file of one opened by path.
func TestStreamingSaveSections(t *testing.T) {
	dir := t.TempDir()
	src := streamCheckpoint(t, dir)
	defer func(n int) { streamChunkElems = n }(streamChunkElems)
	streamChunkElems = 500
	for _, dtype := range []string{DTypeInt8, DTypeInt4, DTypeFP8E4M3, DTypeBF16} {
		opts := DefaultOptions()
		opts.Weights.DType = dtype
		want, _ := saveWith(t, src, opts, LayoutCompressed, true)
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		m, err := safetensors.Open(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		q, err := PlanWeights(context.Background(), m, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "o.safetensors")
		if err := q.Save(context.Background(), out, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
			t.Errorf("%s: a file opened on a ReaderAt gives another output", dtype)
		}
	}
}

// TestStreamingNonFiniteIndex: a NaN found in a later chunk (of one row, or in a later
// row of a chunk of three) is reported at its index in the whole weight, as the
// whole-tensor save reports it.
func TestStreamingNonFiniteIndex(t *testing.T) {
	defer func(n int) { streamChunkElems = n }(streamChunkElems)
	for _, chunk := range []int{8, 24} {
		streamChunkElems = chunk
		nonFiniteIndex(t)
	}
}

func nonFiniteIndex(t *testing.T) {
	w := make([]float32, 6*8)
	for i := range w {
		w[i] = float32(i) / 10
	}
	w[37] = float32(math.Inf(-1))
	path := filepath.Join(t.TempDir(), "inf.safetensors")
	writeSafetensors(t, path, map[string]*tensor.Tensor{"enc.fc.weight": tensor.FromF32([]int{6, 8}, w)})
	for _, dtype := range WeightDTypes {
		opts := DefaultOptions()
		opts.Weights.DType = dtype
		q, err := PlanWeights(context.Background(), openModel(t, path), opts)
		if err != nil {
			t.Fatal(err)
		}
		err = q.Save(context.Background(), filepath.Join(t.TempDir(), "o.safetensors"), SaveOptions{})
		if err == nil || !strings.Contains(err.Error(), `tensor "enc.fc.weight"`) || !strings.Contains(err.Error(), "at element 37") {
			t.Errorf("%s: %v", dtype, err)
		}
	}
}

// TestStreamingFirstErrorIsNaN: a chunk whose group scale does not fit (a bf16 row whose
// range overflows float32) fails before a later chunk's NaN is looked at, but the
// streaming save reports the NaN, as the whole-tensor save does (it checks the whole
// weight first), and leaves no output; without the NaN both report the scale.
func TestStreamingFirstErrorIsNaN(t *testing.T) {
	defer func(n int) { streamChunkElems = n }(streamChunkElems)
	streamChunkElems = 8 // a row per chunk
	w := make([]float32, 6*8)
	for i := range w {
		w[i] = float32(i) / 10
	}
	w[0], w[1] = -3e38, 3e38 // row 0's range overflows
	opts := DefaultOptions()
	opts.Weights = WeightOptions{DType: DTypeUInt4, GroupSize: 8}
	for _, nan := range []bool{true, false} {
		w[29] = 2.9
		if nan {
			w[29] = float32(math.NaN())
		}
		bf, err := tensor.FromF32([]int{6, 8}, w).To(tensor.BF16)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "nan.safetensors")
		writeSafetensors(t, path, map[string]*tensor.Tensor{"enc.fc.weight": bf})
		var msgs []string
		for _, stream := range []bool{true, false} {
			streamSaves = stream
			q, err := PlanWeights(context.Background(), openModel(t, path), opts)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "o.safetensors")
			err = q.Save(context.Background(), out, SaveOptions{})
			streamSaves = true
			if err == nil || nan != strings.Contains(err.Error(), "NaN at element 29") {
				t.Fatalf("nan=%v stream=%v: %v", nan, stream, err)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("stream=%v: %s written", stream, out)
			}
			msgs = append(msgs, strings.TrimPrefix(err.Error(), "save "+out))
		}
		if msgs[0] != msgs[1] {
			t.Errorf("nan=%v: streamed%s\nwhole%s", nan, msgs[0], msgs[1])
		}
	}
}

// TestDeferredHistogramChangedSource: a histogram the streaming save deferred is counted
// from the source when the JSON report is written; if the file changed in place meanwhile
// (values outside the range the save measured), writing the report fails and says so,
// rather than writing the histogram of other values.
func TestDeferredHistogramChangedSource(t *testing.T) {
	dir := t.TempDir()
	w := make([]float32, 16*8)
	for i := range w {
		w[i] = float32(i) / 1000
	}
	path := filepath.Join(dir, "in.safetensors")
	writeSafetensors(t, path, map[string]*tensor.Tensor{"enc.fc.weight": tensor.FromF32([]int{16, 8}, w)})
	q := quantizeAndSave(t, path, DefaultOptions(), filepath.Join(dir, "o.safetensors"), SaveOptions{})
	r, err := q.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Layers[0].Histogram.Pending() {
		t.Fatal("the streamed weight's histogram is not deferred")
	}
	// Overwrite w[5] in place, in the file the plan still reads.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, tensor.FromF32([]int{1}, w[5:6]).Data)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil || at < 0 {
		t.Fatal(at, err)
	}
	if _, err := f.WriteAt(tensor.FromF32([]int{1}, []float32{99}).Data, int64(at)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = r.WriteJSON(io.Discard)
	if err == nil || !strings.Contains(err.Error(), `tensor "enc.fc.weight" changed since it was quantized`) {
		t.Errorf("report of a changed source: %v", err)
	}
}

// TestStreamingRangesWithoutFloat32Bins: a weight whose range has no float32 bin formula
// (a width beyond float32's, or under about 1e-37) is measured by the whole-tensor save
// with other statistics kernels, so the one-pass streaming save measures it again with
// those: same bytes, same report figures and histograms.
func TestStreamingRangesWithoutFloat32Bins(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	big, tiny := make([]float32, 16*64), make([]float32, 16*64)
	for i := range big {
		big[i] = float32((rng.Float64()*2 - 1) * 2e38)
		tiny[i] = float32(1e-37 + rng.Float64()*1e-38)
	}
	big[3], big[700] = 2e38, -2e38 // a width of 4e38: beyond float32
	path := filepath.Join(t.TempDir(), "ranges.safetensors")
	writeSafetensors(t, path, map[string]*tensor.Tensor{
		"big.weight":  tensor.FromF32([]int{16, 64}, big),
		"tiny.weight": tensor.FromF32([]int{16, 64}, tiny),
	})
	defer func(n int, s bool) { streamChunkElems, streamSaves = n, s }(streamChunkElems, streamSaves)
	streamChunkElems = 128
	for _, w := range []WeightOptions{
		{DType: DTypeInt8, PerChannel: true, Symmetric: true},
		{DType: DTypeInt4, Symmetric: true, GroupSize: 32},
		{DType: DTypeFP8E4M3, PerChannel: true, Symmetric: true},
		{DType: DTypeBF16},
	} {
		opts := DefaultOptions()
		opts.Weights = w
		got, gotReport := saveWith(t, path, opts, LayoutCompressed, true)
		want, wantReport := saveWith(t, path, opts, LayoutCompressed, false)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: streamed file differs from the whole-tensor save", w.DType)
		}
		sameReport(t, gotReport, wantReport)
		for _, l := range gotReport.Layers {
			if b := l.Histogram.Binning(); l.Histogram == nil || b.F32 {
				t.Errorf("%s %s: histogram %+v has float32 bins", w.DType, l.Name, l.Histogram)
			}
		}
		// Measured again, so binned on the way: not deferred.
		q := quantizeAndSave(t, path, opts, filepath.Join(t.TempDir(), "o.safetensors"), SaveOptions{})
		r, err := q.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.Layers {
			if l.Histogram.Pending() {
				t.Errorf("%s %s: histogram deferred, not measured again", w.DType, l.Name)
			}
		}
	}
}
