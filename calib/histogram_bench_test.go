package calib

import (
	"math/rand"
	"testing"
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
