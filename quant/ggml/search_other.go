//go:build !amd64 || purego

package ggml

// Without the amd64 assembly the pure-Go loops of search.go do all the work.

var haveAVX2 = false

func qkxLanes8(nmax, n, k int, x, w []float32, L []uint8, scales, mins []float32, rmin, rdelta float32, nstep int, useMad bool) {
	panic("ggml: no AVX2 kernels in this build")
}

func qxSumsAVX2(x, w, wx *float32, n int, iscale *[8]float32, out *[2][8]float32, nmax int32) {
	panic("ggml: no AVX2 kernels in this build")
}

func q8_0AVX2(y *byte, x *float32, nb int, d *float32) { panic("ggml: no AVX2 kernels in this build") }

func makeQ3Lanes8(nmax int, x []float32, L []int8, scales []float32) {
	panic("ggml: no AVX2 kernels in this build")
}

func makeQxLanes8(n, nmax, k int, x, w []float32, L []int8, scales []float32) {
	panic("ggml: no AVX2 kernels in this build")
}

func symAVX2(codes *byte, d, x *float32, nb int, div, bias float32, qmax int32) {
	panic("ggml: no AVX2 kernels in this build")
}

func asymAVX2(codes *byte, d, m, mx, x *float32, nb int, div float32, qmax int32) {
	panic("ggml: no AVX2 kernels in this build")
}

func anyNonFiniteAVX2(x *float32, n int) bool { panic("ggml: no AVX2 kernels in this build") }

func requantAVX2(L *byte, x, d, m *float32, groups int, lo, hi, off int32) {
	panic("ggml: no AVX2 kernels in this build")
}
