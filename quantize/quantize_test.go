package quantize

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
)

const (
	exampleONNX        = "../examples/models/digits_cnn.onnx"
	examplePT          = "../examples/models/digits_cnn.pt"
	exampleSafetensors = "../examples/models/digits_cnn.safetensors"
)

func openModel(t testing.TB, path string) *formats.File {
	t.Helper()
	f, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func openModelB(b *testing.B, path string) *formats.File { return openModel(b, path) }

func TestReport(t *testing.T) {
	ctx := context.Background()
	src, _ := loadAll(t, examplePT)
	opts := DefaultOptions()
	opts.Skip = layer.Names("conv1")
	q, err := PlanWeights(ctx, openModel(t, examplePT), opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := q.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "int8 per-channel symmetric weights (torch numerics)" || r.Input != examplePT {
		t.Errorf("scheme %q input %q", r.Scheme, r.Input)
	}
	want := map[string]report.Layer{
		"conv1": {Type: "Conv2d", Reason: "skip: conv1", BytesBefore: 16*9*4 + 64, BytesAfter: 16*9*4 + 64},
		"bn1":   {Type: "Norm", Reason: "type Norm not selected", BytesBefore: 128, BytesAfter: 128},
		"conv2": {Type: "Conv2d", Quantized: true, BytesBefore: 32*144*4 + 128, BytesAfter: 32*144 + 128 + 128},
		"conv3": {Type: "Conv2d", Quantized: true, BytesBefore: 32*288*4 + 128, BytesAfter: 32*288 + 128 + 128},
		"fc1":   {Type: "Linear", Quantized: true, BytesBefore: 64*512*4 + 256, BytesAfter: 64*512 + 256 + 256},
		"fc2":   {Type: "Linear", Quantized: true, BytesBefore: 10*64*4 + 40, BytesAfter: 10*64 + 40 + 40},
	}
	if len(r.Layers) != len(want) {
		t.Fatalf("%d rows", len(r.Layers))
	}
	for _, row := range r.Layers {
		w := want[row.Name]
		if row.Type != w.Type || row.Reason != w.Reason || row.Quantized != w.Quantized || row.BytesBefore != w.BytesBefore || row.BytesAfter != w.BytesAfter {
			t.Errorf("%s: %+v", row.Name, row)
		}
		if !row.Quantized {
			if row.SQNR != 0 || row.Histogram != nil || row.QDType != "" {
				t.Errorf("%s: skipped layer with metrics", row.Name)
			}
			continue
		}
		// The metrics are those of quant's kernels on the same weight.
		x := src[row.Name+".weight"]
		p, codes := expectedInt(t, x, quant.Scheme{QType: quant.QInt8, Symmetric: true}, quant.PerChannel(0))
		deq, err := quant.Dequantize(codes, p)
		if err != nil {
			t.Fatal(err)
		}
		e, err := quant.Compare(x.F32(), deq.F32())
		if err != nil {
			t.Fatal(err)
		}
		// The statistics sum in float32 blocks: within 1e-6 of quant's float64 sums.
		if !within(row.SQNR, e.SQNR, 1e-6) || !within(row.MSE, e.MSE, 1e-6) || row.MaxAbsErr != e.MaxAbs || !within(row.Cosine, e.Cosine, 1e-6) {
			t.Errorf("%s: metrics %v %v %v %v, quant says %+v", row.Name, row.SQNR, row.MSE, row.MaxAbsErr, row.Cosine, e)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range p.Scale {
			lo, hi = min(lo, float64(s)), max(hi, float64(s))
		}
		if row.ScaleMin != lo || row.ScaleMax != hi || row.QDType != "int8" || row.Granularity != "per_channel(axis=0)" {
			t.Errorf("%s: scales %v..%v qdtype %q granularity %q", row.Name, row.ScaleMin, row.ScaleMax, row.QDType, row.Granularity)
		}
		if h := report.NewHistogram(x.F32(), HistogramBins); row.Histogram == nil || row.Histogram.Min != h.Min ||
			row.Histogram.Max != h.Max || !slices.Equal(row.Histogram.Counts, h.Counts) {
			t.Errorf("%s: histogram %+v, want %+v", row.Name, row.Histogram, h)
		}
	}
	other := int64(16*4*2 + 8) // running mean/var and num_batches_tracked
	if r.OtherBytes != other || r.Totals.Quantized != 4 || r.Totals.Skipped != 2 || r.Totals.Layers != 6 {
		t.Errorf("other %d totals %+v", r.OtherBytes, r.Totals)
	}
	// Cached, and the caller's copy is its own.
	r.Layers[0].Name = "changed"
	r2, err := q.Report(ctx)
	if err != nil || r2.Layers[0].Name == "changed" {
		t.Errorf("cache shared with the caller (%v)", err)
	}
}

// within reports whether got is within rel of want, relative to |want| (two NaNs are
// equal).
func within(got, want, rel float64) bool {
	return got == want || math.Abs(got-want) <= rel*math.Abs(want) || (math.IsNaN(got) && math.IsNaN(want))
}

func TestUnsupportedLayersStayFloat(t *testing.T) {
	// ONNX MatMul-like weights [in, out] cannot be packed as int4 rows: they stay float
	// with a reason and a warning instead of failing or being silently dropped.
	m := openModel(t, exampleONNX)
	opts := DefaultOptions()
	opts.Weights.DType = "int4"
	q, err := PlanWeights(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The digits CNN's Gemm weights have transB=1 ([out, in]), so everything is supported.
	if len(q.Quantized()) != 5 || len(q.Warnings()) != 0 {
		t.Errorf("quantized %d, warnings %q", len(q.Quantized()), q.Warnings())
	}
	ws, _ := newWeightScheme(opts)
	why := ws.unsupported(layer.Layer{Type: "MatMul", Shape: []int{512, 64}, Axis: 1})
	if why != "groups need the output axis first (the MatMul weight's output axis is 1)" {
		t.Errorf("unsupported: %q", why)
	}
}
