//go:build !amd64 || purego

package sgemm

var hasAVX2 = false

func reluVector(d, src []float32) int { return 0 }
func addVector(d, src []float32) int  { return 0 }
