//go:build amd64 && !purego

package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// asmKernels lists the assembly kernels this CPU can run, for tests and benchmarks.
func asmKernels() map[string]microKernel {
	ks := map[string]microKernel{}
	if hasAVX2Kernel {
		ks["avx2"] = avx2Kernel
	}
	if hasAVX512Kernel {
		ks["avx512x8"] = avx512Kernel8
	}
	if gemmKernel.narrow != nil {
		ks["selected"] = gemmKernel
	}
	return ks
}

// TestEdgeMatchesFullTile checks the AVX-512 edge kernel, for every partial tile (rows 1..8,
// columns 1..32; at most 16 columns skip the second vector's FMAs), against the whole-tile
// kernel on the same operands bit for bit in the part it covers, with NaN and infinities
// among B's values past the tile's columns, and that it leaves the rest of c untouched.
func TestEdgeMatchesFullTile(t *testing.T) {
	if !hasAVX512Kernel {
		t.Skip("no AVX-512F")
	}
	mk := avx512Kernel8
	r := rand.New(rand.NewPCG(11, 12))
	for _, kc := range []int{1, 3, 17, 256} {
		a, b := randSlice(r, 8*kc), randSlice(r, 32*kc)
		for rows := 1; rows <= 8; rows++ {
			for cols := 1; cols <= 32; cols++ {
				bb := append([]float32{}, b...)
				for p := 0; p < kc; p++ {
					for j := cols; j < 32; j++ {
						bb[p*32+j] = []float32{float32(math.NaN()), float32(math.Inf(1)), 7}[(p+j)%3]
					}
				}
				start := randSlice(r, 8*40)
				full := append([]float32{}, start...)
				mk.run(kc, a, bb, full, 40)
				got := append([]float32{}, start...)
				mk.edge(kc, rows, cols, a, bb, got, 40)
				for i := range got {
					want := start[i]
					if i/40 < rows && i%40 < cols {
						want = full[i]
					}
					if math.Float32bits(got[i]) != math.Float32bits(want) {
						t.Fatalf("kc=%d rows=%d cols=%d: c[%d][%d] = %v, want %v", kc, rows, cols, i/40, i%40, got[i], want)
					}
				}
			}
		}
	}
}
