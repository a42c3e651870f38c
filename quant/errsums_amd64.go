//go:build amd64 && !purego

package quant

//go:noescape
func statsCodesAVX2(x *float32, codes *int8, n int, counts *int64, scale float32, zp int32, lo, inv float32, l *statsLanes)

//go:noescape
func statsFloatsAVX2(x, y *float32, n int, counts *int64, lo, inv float32, l *statsLanes)

// addCodesPrefix measures the longest prefix of x whose length is a multiple of 8 into
// the lanes with the AVX2 kernel and returns its length (0 without AVX2).
func addCodesPrefix(l *statsLanes, counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	statsCodesAVX2(&x[0], &codes[0], n, &counts[0], scale, zp, lo, inv, l)
	return n
}

func addFloatsPrefix(l *statsLanes, counts []int64, x, y []float32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	statsFloatsAVX2(&x[0], &y[0], n, &counts[0], lo, inv, l)
	return n
}

//go:noescape
func divClampAVX2(dst, src *float32, n int, s, lo, hi float32)

// divClampPrefix scales the longest prefix of src whose length is a multiple of 8.
func divClampPrefix(dst, src []float32, s, lo, hi float32) int {
	n := len(src) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	divClampAVX2(&dst[0], &src[0], n, s, lo, hi)
	return n
}
