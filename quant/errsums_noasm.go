//go:build !amd64 || purego

package quant

import "github.com/qscript-dev/qscript/tensor"

// Without the amd64 assembly the reference loops do all the statistics.

func addCodesPrefix(l *statsLanes, counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) int {
	return 0
}

func addFloatsPrefix(l *statsLanes, counts []int64, x, y []float32, lo, inv float32) int {
	return 0
}

func binsPrefix(counts []int64, x []float32, lo, inv float32) int { return 0 }

func divClampPrefix(dst, src []float32, s, lo, hi float32) int { return 0 }

func addGroupsPrefix(l *statsLanes, counts []int64, x []float32, codes []int8, size int, scale []float32, zp []int32, shift int32, lo, inv float32) int {
	return 0
}

func addFP8Prefix(l *statsLanes, counts []int64, x []float32, codes []uint8, scale float32, table *[256]float32, lo, inv float32) int {
	return 0
}

func fusedGroups(size int) bool { return false }

func quantStatsGroups(l *statsLanes, codes []int8, x []float32, size int, k []groupAffine, scale []float32) bool {
	panic("quant: no fused group kernel")
}

func castPrefix(l *statsLanes, r *castRange, dst []uint16, x []float32, dt tensor.DType) int {
	return 0
}
