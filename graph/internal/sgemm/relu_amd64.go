//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

// hasAVX2 selects reluAVX2 and addAVX2; tests flip it to compare with the Go loops.
var hasAVX2 = cpu.X86.HasAVX2

// reluVector and addVector handle the leading multiple of 32 elements of Relu and AddTo
// with AVX2 when the CPU has it, returning how many they did.
func reluVector(d, src []float32) int {
	n := len(src) &^ 31
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = d[n-1]
	reluAVX2(&d[0], &src[0], n)
	return n
}

func addVector(d, src []float32) int {
	n := len(d) &^ 31
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = src[n-1]
	addAVX2(&d[0], &src[0], n)
	return n
}

//go:noescape
func reluAVX2(d, s *float32, n int)

//go:noescape
func addAVX2(d, s *float32, n int)
