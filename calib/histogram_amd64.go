//go:build amd64 && !purego

package calib

import "golang.org/x/sys/cpu"

// haveAVX2 selects displayBinsAVX2 (SSE4.1's rounding included); tests flip it to compare
// with the scalar loop.
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func displayBinsAVX2(dst *int32, src *float32, n int, inv float64)

//go:noescape
func displayBins32AVX2(dst *int32, src *float32, n int, inv float32)

// displayBinsPrefix writes the bins of a prefix of x into dst (at least as long) and
// returns its length: eight at a time in float32 when inv (a power of two) is a normal
// float32, the longest prefix whose length is a multiple of 8, else four at a time in
// float64, a multiple of 4.
func displayBinsPrefix(dst []int32, x []float32, inv float64) int {
	if !haveAVX2 {
		return 0
	}
	if inv >= 0x1p-126 && inv <= 0x1p127 {
		if n := len(x) &^ 7; n > 0 {
			_ = dst[n-1]
			displayBins32AVX2(&dst[0], &x[0], n, float32(inv))
			return n
		}
	}
	n := len(x) &^ 3
	if n == 0 {
		return 0
	}
	_ = dst[n-1]
	displayBinsAVX2(&dst[0], &x[0], n, inv)
	return n
}
