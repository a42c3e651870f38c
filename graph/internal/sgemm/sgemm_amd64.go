//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

// avx2Kernel is the 6×16 AVX2/FMA micro-kernel of sgemm_amd64.s: twelve 8-float accumulators
// (6 rows × 2 vectors) stay in YMM registers while each step broadcasts one A value per row
// and loads 16 B values. FMA rounds once per multiply-add where the Go kernel rounds twice,
// so results differ from goKernel in the last bits (TestKernelsAgree bounds this).
var avx2Kernel = microKernel{mr: 6, nr: 16, run: func(kc int, a, b, c []float32, ldc int) {
	_ = a[6*kc-1]
	_ = b[16*kc-1]
	_ = c[5*ldc+15]
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc)
}}

// avx512Kernel8 is the 8×32 AVX-512F micro-kernel of sgemm_avx512_amd64.s: 16 accumulators of
// 16 floats (8 rows × 2 vectors) in ZMM registers; each FMA broadcasts its A value straight
// from memory. Eight rows pad no channel count that is a multiple of 8; a 14×32 kernel (28
// accumulators) measured no faster on BenchmarkSgemm and slower on 64×3136×576.
var avx512Kernel8 = microKernel{mr: 8, nr: 32, run: func(kc int, a, b, c []float32, ldc int) {
	_ = a[8*kc-1]
	_ = b[32*kc-1]
	_ = c[7*ldc+31]
	kernel8x32AVX512(kc, &a[0], &b[0], &c[0], ldc)
}, edge: func(kc, rows, cols int, a, b, c []float32, ldc int) {
	_ = a[8*kc-1]
	_ = b[32*kc-1]
	_ = c[(rows-1)*ldc+cols-1]
	kernel8x32AVX512Edge(kc, &a[0], &b[0], &c[0], ldc, rows, cols)
}, init: func(kc int, a, b, c []float32, ldc int, init []float32) {
	_ = a[8*kc-1]
	_ = b[32*kc-1]
	_ = c[7*ldc+31]
	_ = init[7]
	kernel8x32AVX512Init(kc, &a[0], &b[0], &c[0], ldc, &init[0])
}, rows: func(kc int, a, b []float32, offs []int, c []float32, ldc int) {
	// RunRows checked every offset against b.
	_ = a[8*kc-1]
	_ = offs[kc-1]
	_ = c[7*ldc+31]
	kernel8x32AVX512Rows(kc, &a[0], &b[0], &offs[0], &c[0], ldc)
}, rowsInit: func(kc int, a, b []float32, offs []int, c []float32, ldc int, init []float32) {
	// sgemm checked every offset against b (inPlaceOK).
	_ = a[8*kc-1]
	_ = offs[kc-1]
	_ = c[7*ldc+31]
	_ = init[7]
	kernel8x32AVX512RowsInit(kc, &a[0], &b[0], &offs[0], &c[0], ldc, &init[0])
}}

var (
	hasAVX2Kernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	// x/sys/cpu reports HasAVX512F only when the OS saves the ZMM and opmask state too.
	hasAVX512Kernel = cpu.X86.HasAVX512F
)

func init() {
	switch {
	case hasAVX512Kernel:
		gemmKernel = avx512Kernel8
		if hasAVX2Kernel {
			gemmKernel.narrow = &avx2Kernel
		}
	case hasAVX2Kernel:
		gemmKernel = avx2Kernel
	}
}

//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)

//go:noescape
func kernel8x32AVX512(kc int, a, b, c *float32, ldc int)

//go:noescape
func kernel8x32AVX512Init(kc int, a, b, c *float32, ldc int, init *float32)

//go:noescape
func kernel8x32AVX512Rows(kc int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func kernel8x32AVX512Edge(kc int, a, b, c *float32, ldc, rows, cols int)

//go:noescape
func kernel8x32AVX512RowsInit(kc int, a, b *float32, offs *int, c *float32, ldc int, init *float32)
