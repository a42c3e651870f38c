//go:build amd64 && !purego

package graph

import "golang.org/x/sys/cpu"

// haveDepthwiseAVX selects depthwise3x3AVX (AVX's VMULPS and VADDPS) and
// depthwise3x3S2AVX2 (AVX2's VPERMPD too); tests flip it to compare with the scalar loop.
var haveDepthwiseAVX = cpu.X86.HasAVX && cpu.X86.HasAVX2

//go:noescape
func depthwise3x3AVX(dst, r0, r1, r2 *float32, k *[9]float32, b float32, n int)

//go:noescape
func depthwise3x3S2AVX2(dst, r0, r1, r2 *float32, k *[9]float32, b float32, n int)

// depthwise3x3Prefix computes the first outputs of row, a multiple of 8 of them, from the
// input rows r0, r1, r2 at stride 1 or 2 (depthwiseRow's interior), and returns how many:
// 0 without AVX2 or at another stride. Each input row holds every tap of the outputs.
func depthwise3x3Prefix(row, r0, r1, r2 []float32, k *[9]float32, b float32, stride int) int {
	n := len(row) &^ 7
	if !haveDepthwiseAVX || n == 0 {
		return 0
	}
	switch stride {
	case 1:
		_, _, _, _ = row[n-1], r0[n+1], r1[n+1], r2[n+1]
		depthwise3x3AVX(&row[0], &r0[0], &r1[0], &r2[0], k, b, n)
	case 2:
		_, _, _, _ = row[n-1], r0[2*n], r1[2*n], r2[2*n]
		depthwise3x3S2AVX2(&row[0], &r0[0], &r1[0], &r2[0], k, b, n)
	default:
		return 0
	}
	return n
}
