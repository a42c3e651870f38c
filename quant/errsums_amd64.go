//go:build amd64 && !purego

package quant

import (
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

//go:noescape
func statsCodesAVX2(x *float32, codes *int8, n int, counts *int64, scale float32, zp int32, lo, inv float32, l *statsLanes)

//go:noescape
func statsFloatsAVX2(x, y *float32, n int, counts *int64, lo, inv float32, l *statsLanes)

// binsOf is the counts a kernel increments: nil (no histogram) when counts is empty.
func binsOf(counts []int64) *int64 {
	if len(counts) == 0 {
		return nil
	}
	return &counts[0]
}

// The AVX-512 forms (errsums512_amd64.s) measure calls without a histogram with the
// same lanes, bit for bit (TestStatsAVX512MatchesAVX2).

//go:noescape
func statsCodesAVX512(x *float32, codes *int8, n int, scale float32, zp int32, l *statsLanes)

//go:noescape
func statsGroupsAVX512(x *float32, codes *int8, groups, size int, scales *float32, zps *int32, shift int32, l *statsLanes)

//go:noescape
func statsFloatsAVX512(x, y *float32, n int, l *statsLanes)

//go:noescape
func statsFP8AVX512(x *float32, codes *uint8, n int, scale float32, table *float32, dec *fp8Decode, l *statsLanes)

// stats512 reports whether a statistics call with these counts runs the AVX-512 form.
func stats512(counts []int64) bool { return haveAVX512 && len(counts) == 0 }

// addCodesPrefix measures the longest prefix of x whose length is a multiple of 8 into
// the lanes with the AVX2 kernel and returns its length (0 without AVX2).
func addCodesPrefix(l *statsLanes, counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	if stats512(counts) {
		statsCodesAVX512(&x[0], &codes[0], n, scale, zp, l)
		return n
	}
	statsCodesAVX2(&x[0], &codes[0], n, binsOf(counts), scale, zp, lo, inv, l)
	return n
}

func addFloatsPrefix(l *statsLanes, counts []int64, x, y []float32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	if stats512(counts) {
		statsFloatsAVX512(&x[0], &y[0], n, l)
		return n
	}
	statsFloatsAVX2(&x[0], &y[0], n, binsOf(counts), lo, inv, l)
	return n
}

//go:noescape
func binsAVX2(x *float32, n int, counts *int64, lo, inv float32)

// binsPrefix counts the longest prefix of x whose length is a multiple of 8 with the AVX2
// kernel and returns its length (0 without AVX2).
func binsPrefix(counts []int64, x []float32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 || len(counts) == 0 {
		return 0
	}
	binsAVX2(&x[0], n, &counts[0], lo, inv)
	return n
}

//go:noescape
func statsFP8AVX2(x *float32, codes *uint8, n int, counts *int64, scale float32, table *float32, dec *fp8Decode, lo, inv float32, l *statsLanes)

// fp8Decode are statsFP8AVX2's constants for one fp8 type (see the kernel).
type fp8Decode struct {
	mag, sign, shift, thr, rebias, subMax [8]uint32
	quantum                               [8]float32
}

func newFP8Decode(manBits, bias int, thr uint32) *fp8Decode {
	d := new(fp8Decode)
	for i := range 8 {
		d.mag[i], d.sign[i], d.shift[i], d.thr[i] = 0x7f, 1<<31, uint32(23-manBits), thr
		d.rebias[i], d.subMax[i] = uint32(127-bias)<<23, 1<<manBits-1
		d.quantum[i] = float32(math.Ldexp(1, 1-bias-manBits))
	}
	return d
}

// The codes above thr (magnitude bits) are NaN, or ±Inf in e5m2.
var fp8Decodes = map[*[256]float32]*fp8Decode{
	fp8E4M3Values: newFP8Decode(3, 7, 0x7e),
	fp8E5M2Values: newFP8Decode(2, 15, 0x7b),
}

// addFP8Prefix is addFloatsPrefix with y = table[codes[i]] * scale decoded in registers.
func addFP8Prefix(l *statsLanes, counts []int64, x []float32, codes []uint8, scale float32, table *[256]float32, lo, inv float32) int {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	if stats512(counts) {
		statsFP8AVX512(&x[0], &codes[0], n, scale, &table[0], fp8Decodes[table], l)
		return n
	}
	statsFP8AVX2(&x[0], &codes[0], n, binsOf(counts), scale, &table[0], fp8Decodes[table], lo, inv, l)
	return n
}

//go:noescape
func statsGroupsAVX2(x *float32, codes *int8, groups, size int, counts *int64, scales *float32, zps *int32, shift int32, lo, inv float32, l *statsLanes)

// addGroupsPrefix measures len(scale) whole runs of size values (x, codes) with the AVX2
// kernel and returns how many values it covered: all of them, or 0 without AVX2 or when
// size is not a multiple of 8.
func addGroupsPrefix(l *statsLanes, counts []int64, x []float32, codes []int8, size int, scale []float32, zp []int32, shift int32, lo, inv float32) int {
	g := len(scale)
	if !haveAVX2 || size <= 0 || size%8 != 0 || g == 0 {
		return 0
	}
	_, _, _ = x[g*size-1], codes[g*size-1], zp[g-1]
	if stats512(counts) {
		statsGroupsAVX512(&x[0], &codes[0], g, size, &scale[0], &zp[0], shift, l)
		return g * size
	}
	statsGroupsAVX2(&x[0], &codes[0], g, size, binsOf(counts), &scale[0], &zp[0], shift, lo, inv, l)
	return g * size
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

//go:noescape
func quantStatsGroupsAVX512(dst *int8, x *float32, groups, size int, k *groupAffine, scales *float32, l *statsLanes) (bad bool)

// fusedGroups reports whether quantStatsGroups takes groups of size values.
func fusedGroups(size int) bool { return haveAVX2 && haveAVX512 && size > 0 && size%8 == 0 }

// quantStatsGroups quantizes len(k) groups of size values of x into codes, group g with
// k[g], and measures them into the lanes as addGroups would with scale[g] (and the zero
// points k was made from), in one pass; it reports whether every x was finite. Only where
// fusedGroups(size).
func quantStatsGroups(l *statsLanes, codes []int8, x []float32, size int, k []groupAffine, scale []float32) (finite bool) {
	g := len(k)
	_, _, _ = codes[g*size-1], x[g*size-1], scale[g-1]
	return !quantStatsGroupsAVX512(&codes[0], &x[0], g, size, &k[0], &scale[0], l)
}

//go:noescape
func castStatsF16AVX512(dst *uint16, x *float32, n int, l *statsLanes, r *castRange)

//go:noescape
func castStatsBF16AVX512(dst *uint16, x *float32, n int, l *statsLanes, r *castRange)

// castPrefix casts to dt (F16 or BF16) and measures the longest prefix of x whose length
// is a multiple of 8 with the AVX-512 kernels and returns its length (0 without them);
// r's lanes take in the first len&^15 values of that prefix.
func castPrefix(l *statsLanes, r *castRange, dst []uint16, x []float32, dt tensor.DType) int {
	n := len(x) &^ 7
	if !haveAVX2 || !haveAVX512 || n == 0 {
		return 0
	}
	_ = dst[n-1]
	switch {
	case dt == tensor.F16 && haveF16C:
		castStatsF16AVX512(&dst[0], &x[0], n, l, r)
	case dt == tensor.BF16:
		castStatsBF16AVX512(&dst[0], &x[0], n, l, r)
	default:
		return 0
	}
	return n
}
