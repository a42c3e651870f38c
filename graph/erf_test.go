package graph

import (
	"math"
	"testing"
)

// TestErf64 compares erf64 rounded to float32 with math.Erf rounded to float32 on every
// 97th float32 bit pattern of [-5, 5] plus the interval edges: at most one ulp apart, and
// equal for all but a small fraction.
func TestErf64(t *testing.T) {
	var n, off int
	check := func(x float32) {
		got, want := float32(erf64(float64(x))), float32(math.Erf(float64(x)))
		n++
		if got == want {
			return
		}
		off++
		if d := math.Float32bits(got) - math.Float32bits(want); d != 1 && d != math.MaxUint32 {
			t.Fatalf("erf(%g) = %g, math.Erf gives %g (more than one ulp)", x, got, want)
		}
	}
	for bits := uint32(0); bits < math.Float32bits(5); bits += 97 {
		x := math.Float32frombits(bits)
		check(x)
		check(-x)
	}
	for i := 0; i <= 16; i++ {
		x := float32(i) / 4
		check(x)
		check(math.Nextafter32(x, 0))
		check(-x)
	}
	if off*1000 > n {
		t.Fatalf("%d of %d values one ulp off math.Erf (more than 0.1%%)", off, n)
	}
	t.Logf("%d of %d values one ulp off math.Erf", off, n)
	for _, x := range []float64{math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 6} {
		if got := erf64(x); got != math.Erf(x) {
			t.Fatalf("erf(%g) = %g, want %g", x, got, math.Erf(x))
		}
	}
	if !math.IsNaN(erf64(math.NaN())) {
		t.Fatal("erf(NaN) is not NaN")
	}
}
