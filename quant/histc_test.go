package quant

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestHistcVectorMatchesScalar compares histc's AVX2 bin computation with the scalar loop
// on data that hits the edges: values on and outside the truncated range, runs of zeros,
// spans from tiny to near float32's limit, and lengths that leave a scalar tail.
func TestHistcVectorMatchesScalar(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewSource(1))
	for _, scale := range []float32{1e-3, 0.7, 3, 1000, 1e30} {
		for _, n := range []int{1, 7, 8, 33, 1029, 5000} {
			x := make([]float32, n)
			for i := range x {
				switch rng.Intn(5) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = float32(math.Trunc(float64(scale) * (rng.Float64()*4 - 2)))
				default:
					x[i] = scale * float32(rng.NormFloat64())
				}
			}
			lo, hi, _ := finiteMinMax(x)
			for _, edges := range [][2]float32{{lo, hi}, {lo - 1, hi + 1}, {lo / 2, hi / 2}, {lo * 1.5, hi * 3}} {
				h := NewHistogram(Scheme{QType: QUInt8})
				h.histc(h.fresh, x, lo, hi, edges[0], edges[1])
				vector := slices.Clone(h.fresh)
				haveAVX2 = false
				h.histc(h.fresh, x, lo, hi, edges[0], edges[1])
				haveAVX2 = true
				if !slices.Equal(vector, h.fresh) {
					t.Fatalf("scale %g n %d edges %v: AVX2 and scalar histc differ", scale, n, edges)
				}
			}
		}
	}
}

// TestFiniteMinMaxMatchesLoop compares the vectorized finiteMinMax with its scalar loop,
// bit for bit (the sign of a zero extreme included), on data with zeros of both signs,
// infinities and NaNs.
func TestFiniteMinMaxMatchesLoop(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for trial := 0; trial < 2000; trial++ {
		x := make([]float32, 1+rng.Intn(100))
		sign := float32(1 - 2*rng.Intn(2))
		for i := range x {
			x[i] = sign * float32(rng.ExpFloat64())
			if rng.Intn(4) == 0 {
				x[i] = specials[rng.Intn(2)]
			}
			if trial%50 == 0 && rng.Intn(40) == 0 {
				x[i] = specials[2+rng.Intn(3)]
			}
		}
		lo, hi, ok := finiteMinMax(x)
		wlo, whi, wok := finiteMinMaxLoop(x)
		if ok != wok || (ok && (math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi))) {
			t.Fatalf("%v: got %v %v %v, loop %v %v %v", x, lo, hi, ok, wlo, whi, wok)
		}
	}
}
