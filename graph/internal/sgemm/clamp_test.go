package sgemm

import (
	"math"
	"slices"
	"testing"
)

// TestClamp checks Clamp, with and without its vector loop and in place, against the two
// comparisons of ONNX Clip, bit for bit, on the values where a clamp can go wrong (NaN and
// -0 pass through, the bounds themselves, infinities, values either side), laid out so
// that each lands in the vector loop's 32s and 8s and in the tail.
func TestClamp(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	special := []float32{nan, negZero, 0, -inf, inf, -1e-45, 1e-45, 6, 6.0000005, 5.9999995, -3, 3, 1e30, -1e30}
	var src []float32
	for len(src) < 83 {
		src = append(src, special...)
		special = append(special[1:], special[0])
	}
	src = src[:83]
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	avx := hasAVX
	defer func() { hasAVX = avx }()
	for _, b := range [][2]float32{{0, 6}, {-1, 1}, {negZero, 0}, {0, negZero}, {2, 2}, {-inf, inf}, {-inf, 0}} {
		want := make([]float32, len(src))
		for i, v := range src {
			if v < b[0] {
				v = b[0]
			}
			if v > b[1] {
				v = b[1]
			}
			want[i] = v
		}
		for _, vector := range []bool{false, avx} {
			hasAVX = vector
			got := make([]float32, len(src))
			Clamp(got, src, b[0], b[1])
			inPlace := slices.Clone(src)
			Clamp(inPlace, inPlace, b[0], b[1])
			if !slices.EqualFunc(got, want, same) || !slices.EqualFunc(inPlace, want, same) {
				t.Fatalf("[%v, %v] vector=%v: %v, want %v", b[0], b[1], vector, got, want)
			}
		}
	}
}
