package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// histogramFamily builds one of each histogram-based observer.
func histogramFamily(t testing.TB) map[string]Observer {
	t.Helper()
	s := Scheme{QType: QUInt8, ReduceRange: true}
	return map[string]Observer{
		"histogram":  NewHistogram(s),
		"percentile": NewPercentile(s, 0),
		"entropy":    NewEntropy(s),
		"mse":        NewMSE(s),
	}
}

// observerStateSize is the number of elements the observer keeps between batches.
func observerStateSize(o Observer) int {
	switch o := o.(type) {
	case *Histogram:
		return o.stateFloats()
	case *Percentile:
		return gridStateSize(o.grid)
	case *Entropy:
		return gridStateSize(o.grid)
	case *MSE:
		return gridStateSize(o.grid)
	}
	panic("unknown observer")
}

func gridStateSize(g *ortGrid) int { return cap(g.counts) + cap(g.merged) + cap(g.edges) }

// TestHistogramFamilyConstantMemory streams 300 batches whose range keeps growing and
// shrinking through each observer: the state must keep its size and Observe must not
// allocate.
func TestHistogramFamilyConstantMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	batch := make([]float32, 4096)
	in := tensor.FromF32([]int{len(batch)}, batch)
	fill := func(i int) {
		scale := float32(math.Pow(1.05, float64(i%150))) // grows 1.05x per batch, then restarts
		for j := range batch {
			batch[j] = float32(rng.NormFloat64()) * scale
		}
		// FromF32 copies; refresh the tensor's bytes in place.
		copy(in.F32(), batch)
	}
	for name, o := range histogramFamily(t) {
		fill(0)
		if err := o.Observe(in); err != nil {
			t.Fatal(err)
		}
		size := observerStateSize(o)
		for i := 1; i < 300; i++ {
			fill(i)
			if err := o.Observe(in); err != nil {
				t.Fatalf("%s batch %d: %v", name, i, err)
			}
			if got := observerStateSize(o); got != size {
				t.Fatalf("%s: state grew from %d to %d elements at batch %d", name, size, got, i)
			}
		}
		allocs := testing.AllocsPerRun(20, func() {
			if err := o.Observe(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Observe allocates %v times per batch", name, allocs)
		}
		qp, err := o.QParams()
		if err != nil {
			t.Fatal(err)
		}
		if !(qp.Scale[0] > 0) || math.IsInf(float64(qp.Scale[0]), 0) {
			t.Errorf("%s: scale %v after streaming", name, qp.Scale[0])
		}
	}
}

// TestHistogramFamilyMergesWiderRanges checks that a batch outside the range so far
// widens the reported range on both sides.
func TestHistogramFamilyMergesWiderRanges(t *testing.T) {
	for name, o := range histogramFamily(t) {
		for _, b := range [][]float32{{-1, 0.5, 2}, {-7, 1}, {3, 11}} {
			if err := o.Observe(tensor.FromF32([]int{len(b)}, b)); err != nil {
				t.Fatal(err)
			}
		}
		lo, hi := o.Range()
		// Histogram widens max to a whole number of merged bins, as torch does.
		if lo[0] != -7 || hi[0] < 11 || (name != "histogram" && hi[0] != 11) {
			t.Errorf("%s: range [%v, %v] after batches spanning [-7, 11]", name, lo[0], hi[0])
		}
	}
}

func TestHistogramFamilyUnobserved(t *testing.T) {
	for name, o := range histogramFamily(t) {
		lo, hi := o.Range()
		if !math.IsInf(float64(lo[0]), 1) || !math.IsInf(float64(hi[0]), -1) {
			t.Errorf("%s: range before data [%v, %v]", name, lo[0], hi[0])
		}
		qp, err := o.QParams()
		if err != nil {
			t.Fatal(err)
		}
		if qp.Scale[0] != 1 || qp.ZeroPoint[0] != 0 || qp.Axis != -1 {
			t.Errorf("%s: unobserved qparams %v %v axis %d, want 1 0 -1", name, qp.Scale, qp.ZeroPoint, qp.Axis)
		}
	}
}

func TestHistogramFamilyRejectsBadInput(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for name, o := range histogramFamily(t) {
		if err := o.Observe(tensor.FromF32([]int{3}, []float32{-1, 0, 2})); err != nil {
			t.Fatal(err)
		}
		before, _ := o.QParams()
		for _, bad := range [][]float32{{1, nan, 3}, {inf, 0}, {-inf, 1}} {
			err := o.Observe(tensor.FromF32([]int{len(bad)}, bad))
			if !errors.Is(err, ErrNonFinite) {
				t.Errorf("%s: Observe(%v) = %v, want the non-finite error", name, bad, err)
			}
		}
		if err := o.Observe(tensor.New(tensor.I32, 4)); err == nil {
			t.Errorf("%s: int32 tensor accepted", name)
		}
		if err := o.Observe(nil); err == nil {
			t.Errorf("%s: nil tensor accepted", name)
		}
		if err := o.Observe(tensor.New(tensor.F32, 0)); err != nil {
			t.Errorf("%s: empty tensor: %v", name, err)
		}
		after, _ := o.QParams()
		if after.Scale[0] != before.Scale[0] || after.ZeroPoint[0] != before.ZeroPoint[0] {
			t.Errorf("%s: rejected batches changed the qparams", name)
		}
	}
}

func TestHistogramObservesOtherFloatTypes(t *testing.T) {
	x := []float32{-1.5, 0.25, 3}
	f16, err := tensor.FromF32([]int{3}, x).To(tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewHistogram(Scheme{QType: QInt8}), NewHistogram(Scheme{QType: QInt8})
	if err := a.Observe(f16); err != nil {
		t.Fatal(err)
	}
	if err := b.Observe(tensor.FromF32([]int{3}, x)); err != nil {
		t.Fatal(err)
	}
	qa, _ := a.QParams()
	qb, _ := b.QParams()
	if qa.Scale[0] != qb.Scale[0] || qa.ZeroPoint[0] != qb.ZeroPoint[0] {
		t.Errorf("f16 input gives %v/%v, f32 %v/%v", qa.Scale, qa.ZeroPoint, qb.Scale, qb.ZeroPoint)
	}
}

func TestPercentileOptionsValidated(t *testing.T) {
	for _, p := range []float64{-1, 100.5, math.NaN()} {
		if _, err := NewPercentileOptions(Scheme{QType: QInt8}, PercentileOptions{Percentile: p}); err == nil {
			t.Errorf("percentile %v accepted", p)
		}
		o := NewPercentile(Scheme{QType: QInt8}, p)
		if err := o.Observe(tensor.FromF32([]int{1}, []float32{1})); err == nil {
			t.Errorf("NewPercentile(%v).Observe succeeded", p)
		}
		if _, err := o.QParams(); err == nil {
			t.Errorf("NewPercentile(%v).QParams succeeded", p)
		}
	}
	if _, err := NewEntropyOptions(Scheme{QType: QInt8}, EntropyOptions{Bins: 64, QuantizedBins: 128}); err == nil {
		t.Error("entropy with more quantized bins than bins accepted")
	}
	if _, err := NewHistogramBins(Scheme{QType: QInt8}, 0, 128); err == nil {
		t.Error("histogram with 0 bins accepted")
	}
}

// TestStreamingDiffersFromORTOnlyByRebinning documents the one difference from ORT:
// after a batch widens the range, our bins are twice as wide, so the percentile moves
// by at most about one of our bins from the single-histogram answer.
func TestStreamingDiffersFromORTOnlyByRebinning(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 20000)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	one := NewPercentile(Scheme{QType: QInt8, Symmetric: true}, 99.9)
	streamed := NewPercentile(Scheme{QType: QInt8, Symmetric: true}, 99.9)
	// Sort-free split: the first batch gets the small values, so the later one widens.
	var small, rest []float32
	for _, v := range x {
		if abs32(v) < 1 && len(small) < 5000 {
			small = append(small, v)
		} else {
			rest = append(rest, v)
		}
	}
	if err := one.Observe(tensor.FromF32([]int{len(x)}, x)); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]float32{small, rest} {
		if err := streamed.Observe(tensor.FromF32([]int{len(b)}, b)); err != nil {
			t.Fatal(err)
		}
	}
	_, hiOne, _ := one.ClippedRange()
	_, hiStreamed, _ := streamed.ClippedRange()
	g := streamed.grid
	bin := g.edges[1] - g.edges[0]
	if d := math.Abs(float64(hiOne - hiStreamed)); d > 1.5*float64(bin) {
		t.Errorf("streamed percentile %v vs single batch %v: off by %v, more than 1.5 bins of %v", hiStreamed, hiOne, d, bin)
	}
}
