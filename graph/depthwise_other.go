//go:build !amd64 || purego

package graph

var haveDepthwiseAVX = false

func depthwise3x3Prefix(row, r0, r1, r2 []float32, k *[9]float32, b float32, stride int) int {
	return 0
}

func depthwise3x2Prefix(row, r0, r1 []float32, k *[6]float32, b float32) int {
	return 0
}
