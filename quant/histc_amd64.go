//go:build amd64 && !purego

package quant

//go:noescape
func histcIndexAVX2(dst *int32, src *float32, n int, left, right, nb, span, last float32, lanes *[256][8]int32) (kept, zeros int)

// LeftPackLanes[m] lists the set bits of m in increasing order: the lanes of eight values
// that a left-packing AVX2 kernel keeps when m marks them (VPERMD by this row, then POPCNT
// of m to advance), histcIndexAVX2's here and the report histogram's in calib.
var LeftPackLanes = func() (t [256][8]int32) {
	for m := range t {
		k := 0
		for lane := range 8 {
			if m>>lane&1 != 0 {
				t[m][k] = int32(lane)
				k++
			}
		}
	}
	return t
}()

// histcIndexPrefix computes the histc bins of the longest prefix of x whose length is a
// multiple of 8 (done) and writes to the front of dst (at least as long), in order, the
// bins of its values that are neither ±0 nor outside [left, right] (kept of them); zeros
// is the number of ±0 values, whose bin the caller adds them to.
func histcIndexPrefix(dst []int32, x []float32, left, right, nb, span, last float32) (done, kept, zeros int) {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0, 0, 0
	}
	_ = dst[n-1]
	kept, zeros = histcIndexAVX2(&dst[0], &x[0], n, left, right, nb, span, last, &LeftPackLanes)
	return n, kept, zeros
}
