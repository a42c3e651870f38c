//go:build amd64 && !purego

package calib

import (
	"github.com/qscript-dev/qscript/quant"
	"golang.org/x/sys/cpu"
)

// haveAVX2 selects displayBinsAVX2 (SSE4.1's rounding included); tests flip it to compare
// with the scalar loop.
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func displayBinsAVX2(dst *int32, src *float32, n int, inv float64)

//go:noescape
func displayBins32AVX2(dst *int32, src *float32, n int, inv float32, lut *[256][8]int32, acc *extremes) (kept int)

// displayBinsPrefix writes the bins of a prefix of x into dst (at least as long) and
// returns its length and how many of dst's first entries hold bins: all of them, four at
// a time in float64, unless inv (a power of two) is a normal float32; then eight at a
// time in float32, the longest prefix whose length is a multiple of 8, with the bins of
// the zeros (all displayBins/2) left out.
func displayBinsPrefix(dst []int32, x []float32, inv float64) (done, kept int) {
	if !haveAVX2 {
		return 0, 0
	}
	if float32Bins(inv) {
		var acc extremes
		if done, kept = displayBinsExtremes(dst, x, inv, &acc); done > 0 {
			return done, kept
		}
	}
	n := len(x) &^ 3
	if n == 0 {
		return 0, 0
	}
	_ = dst[n-1]
	displayBinsAVX2(&dst[0], &x[0], n, inv)
	return n, n
}

// float32Bins reports whether the float32 kernel computes the bins for inv.
func float32Bins(inv float64) bool { return haveAVX2 && inv >= 0x1p-126 && inv <= 0x1p127 }

// displayBinsExtremes is displayBinsPrefix's float32 kernel (float32Bins(inv) must hold)
// over the longest prefix of x whose length is a multiple of 8, updating acc with its
// values' extremes in the same pass.
func displayBinsExtremes(dst []int32, x []float32, inv float64, acc *extremes) (done, kept int) {
	n := len(x) &^ 7
	if n == 0 {
		return 0, 0
	}
	_ = dst[n-1]
	return n, displayBins32AVX2(&dst[0], &x[0], n, float32(inv), &quant.LeftPackLanes, acc)
}
