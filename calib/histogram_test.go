package calib

import (
	"math"
	"math/rand"
	"testing"

	"github.com/qscript-dev/qscript/quant"
)

// BenchmarkDisplayCount counts a ReLU-like activation (half zeros, the rest half-normal)
// into the report histogram.
func BenchmarkDisplayCount(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	values := make([]float32, 1<<20)
	for i := range values {
		if v := rng.NormFloat64(); v > 0 {
			values[i] = float32(v)
		}
	}
	h := displayHistogram{width: 1.0 / 32}
	b.SetBytes(int64(4 * len(values)))
	for b.Loop() {
		h.count(values)
	}
}

// TestTallyExtremes checks the one-pass tally against quant.FiniteMinMax (bit for bit, the
// sign of a zero extreme included) and against addWithin's counts, on batches inside the
// grid, batches that widen it, zeros of both signs, NaN and infinities, and lengths that
// leave a scalar tail.
func TestTallyExtremes(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: the tally never runs")
	}
	rng := rand.New(rand.NewSource(5))
	negZero := float32(math.Copysign(0, -1))
	nCounted := 0
	for trial := range 400 {
		n := 1 + rng.Intn(3000)
		scale := []float64{1e-3, 1, 40, 300}[trial%4]
		x := make([]float32, n)
		for i := range x {
			switch rng.Intn(6) {
			case 0:
				x[i] = 0
			case 1:
				x[i] = negZero
			default:
				x[i] = float32(rng.NormFloat64() * scale)
			}
		}
		if trial%3 == 0 {
			for i, v := range x {
				if v < 0 {
					x[i] = []float32{0, negZero}[trial/3%2] // a ReLU: the least value is a zero
				}
			}
		}
		if trial%50 == 7 {
			x[rng.Intn(n)] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[trial%3]
		}
		var fused, plain displayHistogram
		first := []float32{-10, 10}
		fused.add(first)
		plain.add(first)
		lo, hi, finite, counted := fused.tallyExtremes(x)
		wlo, whi, wfinite := quant.FiniteMinMax(x)
		if finite != wfinite || finite && (math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi)) {
			t.Fatalf("trial %d: extremes %v %v %v, FiniteMinMax %v %v %v", trial, lo, hi, finite, wlo, whi, wfinite)
		}
		if !finite {
			continue
		}
		if counted {
			nCounted++
		} else {
			fused.addWithin(x, lo, hi)
		}
		plain.addWithin(x, lo, hi)
		if fused.counts != plain.counts || fused.width != plain.width || fused.lo != plain.lo || fused.hi != plain.hi {
			t.Fatalf("trial %d (counted %v): counts differ from addWithin's", trial, counted)
		}
	}
	if nCounted < 100 {
		t.Fatalf("only %d trials counted in one pass", nCounted)
	}
}
