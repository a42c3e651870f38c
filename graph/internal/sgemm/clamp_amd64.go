//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

// hasAVX selects clampAVX; tests flip it to compare with the Go loop.
var hasAVX = cpu.X86.HasAVX

//go:noescape
func clampAVX(d, src *float32, n int, lo, hi float32)

// clampVector clamps the leading multiple of 8 elements of src into d with AVX when the CPU
// has it, returning how many it did.
func clampVector(d, src []float32, lo, hi float32) int {
	n := len(src) &^ 7
	if !hasAVX || n == 0 {
		return 0
	}
	_ = d[n-1]
	clampAVX(&d[0], &src[0], n, lo, hi)
	return n
}
