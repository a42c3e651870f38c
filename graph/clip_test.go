package graph

import (
	"math"
	"testing"
)

// TestClampF32 checks the branch-free clamp against the two comparisons it replaces, bit
// for bit, on the values where a clamp can go wrong: NaN and -0 pass through, the bounds
// themselves, infinities, and values on either side.
func TestClampF32(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	src := []float32{nan, negZero, 0, -inf, inf, -1e-45, 1e-45, 6, 6.0000005, 5.9999995, -3, 3, 1e30, -1e30}
	for _, b := range [][2]float32{{0, 6}, {-1, 1}, {negZero, 0}, {2, 2}, {-inf, inf}, {-inf, 0}} {
		got := make([]float32, len(src))
		clampF32(got, src, b[0], b[1])
		for i, v := range src {
			want := v
			if want < b[0] {
				want = b[0]
			}
			if want > b[1] {
				want = b[1]
			}
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Errorf("clamp(%v) to [%v, %v] = %v, want %v", v, b[0], b[1], got[i], want)
			}
		}
	}
}
