//go:build amd64 && !purego

package quant

// statsConsts are the broadcast constants of the statistics kernels.
type statsConsts struct {
	scale [8]float32
	zp    [8]int32
	lo    [8]float32
	inv   [8]float32
	abs   [4]uint64 // clears a float64's sign bit
}

func newStatsConsts(scale float32, zp int32, lo, inv float32) statsConsts {
	var c statsConsts
	for i := range 8 {
		c.scale[i], c.zp[i], c.lo[i], c.inv[i] = scale, zp, lo, inv
	}
	for i := range c.abs {
		c.abs[i] = 1<<63 - 1
	}
	return c
}

//go:noescape
func statsCodesAVX2(x *float32, codes *int8, n int, counts *int64, c *statsConsts, l *statsLanes)

//go:noescape
func statsFloatsAVX2(x, y *float32, n int, counts *int64, c *statsConsts, l *statsLanes)

// addCodesPrefix measures the longest prefix of x whose length is a multiple of 8 with
// the AVX2 kernel and returns its length (0 without AVX2).
func addCodesPrefix(s *ErrorSums, counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	c := newStatsConsts(scale, zp, lo, inv)
	var l statsLanes
	statsCodesAVX2(&x[0], &codes[0], n, &counts[0], &c, &l)
	l.fold(s, n)
	return n
}

func addFloatsPrefix(s *ErrorSums, counts []int64, x, y []float32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	c := newStatsConsts(0, 0, lo, inv)
	var l statsLanes
	statsFloatsAVX2(&x[0], &y[0], n, &counts[0], &c, &l)
	l.fold(s, n)
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
