package sgemm

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestRelu checks Relu, with and without its vector loop and in place, bit for bit against
// the generic loop's rule (v if v > 0, else +0) on special values and random bit patterns.
func TestRelu(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	src := []float32{0, float32(math.Copysign(0, -1)), 1, -1, inf, -inf, nan, -nan,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001), math.Float32frombits(0xffffffff)}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 10000; i++ {
		src = append(src, math.Float32frombits(rng.Uint32()))
	}
	avx2 := hasAVX2
	defer func() { hasAVX2 = avx2 }()
	for _, vector := range []bool{false, avx2} {
		hasAVX2 = vector
		d := make([]float32, len(src))
		Relu(d, src)
		inPlace := slices.Clone(src)
		Relu(inPlace, inPlace)
		for i, v := range src {
			want := float32(0)
			if v > 0 {
				want = v
			}
			if math.Float32bits(d[i]) != math.Float32bits(want) || math.Float32bits(inPlace[i]) != math.Float32bits(want) {
				t.Fatalf("vector=%v: Relu(%#x) = %#x (in place %#x), want %#x", vector, math.Float32bits(v),
					math.Float32bits(d[i]), math.Float32bits(inPlace[i]), math.Float32bits(want))
			}
		}
	}
}
