//go:build amd64 && !purego

package graph

import "golang.org/x/sys/cpu"

// avx2Kernel is the 6×16 AVX2/FMA micro-kernel of sgemm_amd64.s: twelve 8-float accumulators
// (6 rows × 2 vectors) stay in YMM registers while each step broadcasts one A value per row
// and loads 16 B values. FMA rounds once per multiply-add where the Go kernel rounds twice,
// so results differ from goKernel in the last bits (TestAVX2KernelMatchesGo bounds this).
var avx2Kernel = microKernel{mr: 6, nr: 16, run: func(kc int, a, b, c []float32, ldc int) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = c[5*ldc+15]
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
}}

var hasAVX2Kernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	if hasAVX2Kernel {
		gemmKernel = avx2Kernel
	}
}

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)
