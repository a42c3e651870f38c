package graph

import (
	"math"
	"math/rand"
	"testing"
)

// TestReluF32 checks the branch-free float32 Relu bit for bit against the generic loop's
// rule (v if v > 0, else +0) on special values and random bit patterns.
func TestReluF32(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	src := []float32{0, float32(math.Copysign(0, -1)), 1, -1, inf, -inf, nan, -nan,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001), math.Float32frombits(0xffffffff)}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 10000; i++ {
		src = append(src, math.Float32frombits(rng.Uint32()))
	}
	d := make([]float32, len(src))
	reluF32(d, src)
	for i, v := range src {
		want := float32(0)
		if v > 0 {
			want = v
		}
		if math.Float32bits(d[i]) != math.Float32bits(want) {
			t.Fatalf("Relu(%#x) = %#x, want %#x", math.Float32bits(v), math.Float32bits(d[i]), math.Float32bits(want))
		}
	}
}
