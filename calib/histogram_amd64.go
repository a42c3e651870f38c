//go:build amd64 && !purego

package calib

import "golang.org/x/sys/cpu"

// haveAVX2 selects displayBinsAVX2 (SSE4.1's rounding included); tests flip it to compare
// with the scalar loop.
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func displayBinsAVX2(dst *int32, src *float32, n int, inv float64)

// displayBinsPrefix writes the bins of the longest prefix of x whose length is a multiple
// of 4 into dst (at least as long) and returns its length.
func displayBinsPrefix(dst []int32, x []float32, inv float64) int {
	n := len(x) &^ 3
	if !haveAVX2 || n == 0 {
		return 0
	}
	_ = dst[n-1]
	displayBinsAVX2(&dst[0], &x[0], n, inv)
	return n
}
