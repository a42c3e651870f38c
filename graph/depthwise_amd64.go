//go:build amd64 && !purego

package graph

import "golang.org/x/sys/cpu"

// haveDepthwiseAVX selects depthwise3x3AVX (AVX's VMULPS and VADDPS); tests flip it to
// compare with the scalar loop.
var haveDepthwiseAVX = cpu.X86.HasAVX

//go:noescape
func depthwise3x3AVX(dst, r0, r1, r2 *float32, k *[9]float32, b float32, n int)

// depthwise3x3Prefix computes the first outputs of row, a multiple of 8 of them, from the
// input rows r0, r1, r2 at stride 1 (depthwiseRow's interior), and returns how many: 0
// without AVX. Each input row holds at least len(row)+2 values.
func depthwise3x3Prefix(row, r0, r1, r2 []float32, k *[9]float32, b float32) int {
	n := len(row) &^ 7
	if !haveDepthwiseAVX || n == 0 {
		return 0
	}
	_, _, _, _ = row[n-1], r0[n+1], r1[n+1], r2[n+1]
	depthwise3x3AVX(&row[0], &r0[0], &r1[0], &r2[0], k, b, n)
	return n
}
