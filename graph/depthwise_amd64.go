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

// depthwise3x3Prefix computes the outputs of row from the input rows r0, r1, r2 at stride
// 1 or 2 (depthwiseRow's interior) eight at a time, all of them when there are at least 8
// (the last 8 once more when their count is no multiple of 8: the same values again), and
// returns how many it computed from the start: 0 without AVX2 or at another stride. Each
// input row holds every tap of the outputs.
func depthwise3x3Prefix(row, r0, r1, r2 []float32, k *[9]float32, b float32, stride int) int {
	n := len(row) &^ 7
	if !haveDepthwiseAVX || n == 0 || (stride != 1 && stride != 2) {
		return 0
	}
	depthwise3x3Run(row[:n], r0, r1, r2, k, b, stride)
	if m := len(row); n < m {
		o := (m - 8) * stride
		depthwise3x3Run(row[m-8:], r0[o:], r1[o:], r2[o:], k, b, stride)
	}
	return len(row)
}

// depthwise3x3Run is depthwise3x3Prefix for len(row) a multiple of 8.
func depthwise3x3Run(row, r0, r1, r2 []float32, k *[9]float32, b float32, stride int) {
	n := len(row)
	if stride == 1 {
		_, _, _, _ = row[n-1], r0[n+1], r1[n+1], r2[n+1]
		depthwise3x3AVX(&row[0], &r0[0], &r1[0], &r2[0], k, b, n)
		return
	}
	_, _, _, _ = row[n-1], r0[2*n], r1[2*n], r2[2*n]
	depthwise3x3S2AVX2(&row[0], &r0[0], &r1[0], &r2[0], k, b, n)
}

//go:noescape
func depthwise3x2AVX(dst, r0, r1 *float32, k *[6]float32, b float32, n int)

// depthwise3x2Prefix computes the outputs of row from the two input rows r0, r1 at stride
// 1 with the two kernel rows k (depthwiseEdgeRow's first or last row of a plane padded by
// one) eight at a time as depthwise3x3Prefix does, and returns how many it computed: 0
// without AVX2 or with fewer than 8. Each input row holds every tap of the outputs.
func depthwise3x2Prefix(row, r0, r1 []float32, k *[6]float32, b float32) int {
	n := len(row) &^ 7
	if !haveDepthwiseAVX || n == 0 {
		return 0
	}
	_, _, _ = row[n-1], r0[n+1], r1[n+1]
	depthwise3x2AVX(&row[0], &r0[0], &r1[0], k, b, n)
	if m := len(row); n < m {
		o := m - 8
		_, _, _ = row[m-1], r0[m+1], r1[m+1]
		depthwise3x2AVX(&row[o], &r0[o], &r1[o], k, b, 8)
	}
	return len(row)
}
