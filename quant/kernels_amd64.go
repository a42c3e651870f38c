//go:build amd64 && !purego

package quant

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The assembly kernels need AVX2 (and F16C for half floats); without them the pure-Go
// loops run. Tests flip these to compare both paths.
var (
	haveAVX2 = cpu.X86.HasAVX2
	haveF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C
	// haveAVX512: the statistics kernels' 512-bit forms (AVX-512 F and VL; x/sys/cpu
	// reports them only when the OS saves the ZMM state).
	haveAVX512 = cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
)

//go:noescape
func minMaxAVX2(src *float32, n int, out *[16]float32) (nan bool)

//go:noescape
func quantizeI8MulAVX2(dst *int8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)

//go:noescape
func quantizeU8MulAVX2(dst *uint8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)

//go:noescape
func quantizeI8DivAVX2(dst *int8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)

//go:noescape
func quantizeU8DivAVX2(dst *uint8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)

//go:noescape
func packInt4AVX2(dst *int32, src *int8, n int) (ok bool)

//go:noescape
func f32ToF16F16C(dst *uint16, src *float32, n int)

//go:noescape
func f16ToF32F16C(dst *float32, src *uint16, n int)

//go:noescape
func f32ToBF16AVX2(dst *uint16, src *float32, n int)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func quantizeGroupsI8AVX2(dst *int8, src *float32, groups, size int, k *groupAffine) (bad bool)

// quantizeGroupsI8 quantizes len(k) groups of size elements of src into dst, group g
// with k[g], in one call, and reports whether it did (false without AVX2 or for a size
// that is not a multiple of 32; the caller then goes group by group) and whether every
// input was finite.
func quantizeGroupsI8(dst []int8, src []float32, size int, k []groupAffine) (done, finite bool) {
	if !haveAVX2 || size <= 0 || size%32 != 0 || len(k) == 0 {
		return false, true
	}
	n := len(k) * size
	_, _ = dst[n-1], src[n-1]
	return true, !quantizeGroupsI8AVX2(&dst[0], &src[0], len(k), size, &k[0])
}

//go:noescape
func groupsMinMaxAVX2(x *float32, groups, size int, lo, hi *float32) (nan bool)

// groupsMinMax sets lo[g] and hi[g] to the range of group g of x, len(lo) groups of size
// elements each, in one call, and reports whether it did: false without AVX2, for a size
// that is not a multiple of 32, or when a value is NaN or ±Inf (the caller then goes
// group by group with minMaxRow, which finds it).
func groupsMinMax(lo, hi, x []float32, size int) bool {
	if !haveAVX2 || size <= 0 || size%32 != 0 || len(lo) == 0 || len(x) < len(lo)*size || len(hi) < len(lo) {
		return false
	}
	if groupsMinMaxAVX2(&x[0], len(lo), size, &lo[0], &hi[0]) {
		return false
	}
	for g := range lo {
		if lo[g]-lo[g] != 0 || hi[g]-hi[g] != 0 {
			return false
		}
	}
	return true
}

// minMaxPrefix reduces the longest prefix of x whose length is a multiple of 32 and
// returns how many elements it covered (0 when it did nothing).
func minMaxPrefix(x []float32) (lo, hi float32, done int, nan bool) {
	n := len(x) &^ 31
	if !haveAVX2 || n == 0 {
		return 0, 0, 0, false
	}
	var lanes [16]float32
	nan = minMaxAVX2(&x[0], n, &lanes)
	lo, hi = lanes[0], lanes[8]
	for i := 1; i < 8; i++ {
		lo = min(lo, lanes[i])
		hi = max(hi, lanes[8+i])
	}
	return lo, hi, n, nan
}

// quantizeBytesPrefix quantizes the longest prefix of src whose length is a multiple of
// 32 into dst ([]int8 or []uint8 with len(dst) >= len(src)); other code types return 0.
func quantizeBytesPrefix[T Code](dst []T, src []float32, a *affine) (done int, bad bool) {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0, false
	}
	var zero T
	switch any(zero).(type) {
	case int8:
		d := (*int8)(unsafe.Pointer(&dst[0]))
		if a.div {
			return n, quantizeI8DivAVX2(d, &src[0], n, a.mul, a.lo, a.hi, a.zp)
		}
		return n, quantizeI8MulAVX2(d, &src[0], n, a.mul, a.lo, a.hi, a.zp)
	case uint8:
		d := (*uint8)(unsafe.Pointer(&dst[0]))
		if a.div {
			return n, quantizeU8DivAVX2(d, &src[0], n, a.mul, a.lo, a.hi, a.zp)
		}
		return n, quantizeU8MulAVX2(d, &src[0], n, a.mul, a.lo, a.hi, a.zp)
	}
	return 0, false
}

func f32ToF16Prefix(dst []uint16, src []float32) int {
	n := len(src) &^ 31
	if !haveF16C || n == 0 {
		return 0
	}
	f32ToF16F16C(&dst[0], &src[0], n)
	return n
}

func f16ToF32Prefix(dst []float32, src []uint16) int {
	n := len(src) &^ 31
	if !haveF16C || n == 0 {
		return 0
	}
	f16ToF32F16C(&dst[0], &src[0], n)
	return n
}

// bf16ToF32Prefix widens the longest prefix of src whose length is a multiple of 32.
func bf16ToF32Prefix(dst []float32, src []uint16) int {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0
	}
	_ = dst[n-1]
	bf16ToF32AVX2(&dst[0], &src[0], n)
	return n
}

func f32ToBF16Prefix(dst []uint16, src []float32) int {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0
	}
	f32ToBF16AVX2(&dst[0], &src[0], n)
	return n
}

// packInt4Prefix packs the longest prefix of src whose length is a multiple of 32 into
// dst and returns its length and whether every code was in -8..7.
func packInt4Prefix(dst []int32, src []int8) (done int, ok bool) {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0, true
	}
	return n, packInt4AVX2(&dst[0], &src[0], n)
}

//go:noescape
func f32ToF8AVX2(dst *uint8, src *float32, n int, c *fp8Consts)

// fp8Consts holds one fp8 format's encoder constants as 8-lane vectors for f32ToF8AVX2
// (the constants of f8E4M3Magnitude / f8E5M2Magnitude in fp8.go, in that order, and the
// dropped mantissa bit count last).
type fp8Consts struct {
	halfMinus1, maxR, rebias, subnormalMagic, minNormalMinus1, nanCode [8]uint32
	drop                                                               uint64
}

func newFP8Consts(drop, rebias, maxCode, subnormalMagic, minNormalBits, nanCode uint32) *fp8Consts {
	c := &fp8Consts{drop: uint64(drop)}
	for i := range 8 {
		c.halfMinus1[i] = 1<<(drop-1) - 1
		c.maxR[i] = rebias + maxCode
		c.rebias[i] = rebias
		c.subnormalMagic[i] = subnormalMagic
		c.minNormalMinus1[i] = minNormalBits - 1
		c.nanCode[i] = nanCode
	}
	return c
}

var (
	fp8E4M3Consts = newFP8Consts(20, e4m3Rebias, e4m3MaxCode, math.Float32bits(e4m3SubnormalMagic), e4m3MinNormalBits, e4m3NaNCode)
	fp8E5M2Consts = newFP8Consts(21, e5m2Rebias, e5m2MaxCode, math.Float32bits(e5m2SubnormalMagic), e5m2MinNormalBits, e5m2NaNCode)
)

// f32ToF8E4M3Prefix and f32ToF8E5M2Prefix encode the longest prefix of src whose length
// is a multiple of 32 and return its length (0 without AVX2).
func f32ToF8E4M3Prefix(dst []uint8, src []float32) int { return f32ToF8Prefix(dst, src, fp8E4M3Consts) }
func f32ToF8E5M2Prefix(dst []uint8, src []float32) int { return f32ToF8Prefix(dst, src, fp8E5M2Consts) }

//go:noescape
func f32ToF8ScaledAVX2(dst *uint8, src *float32, n int, c *fp8Consts, s, lo, hi float32)

//go:noescape
func f32ToF8ScaledAVX512(dst *uint8, src *float32, n int, c *fp8Consts, s, lo, hi float32)

// scaledFP8Prefix encodes min(max(src/s, lo), hi) as dt (F8E4M3 or F8E5M2) over the
// longest prefix of src whose length is a multiple of 32 and returns its length (0
// without AVX2), sixteen lanes at a time where AVX-512 runs.
func scaledFP8Prefix(dst []uint8, src []float32, s, lo, hi float32, e5m2 bool) int {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0
	}
	c := fp8E4M3Consts
	if e5m2 {
		c = fp8E5M2Consts
	}
	if haveAVX512 {
		f32ToF8ScaledAVX512(&dst[0], &src[0], n, c, s, lo, hi)
	} else {
		f32ToF8ScaledAVX2(&dst[0], &src[0], n, c, s, lo, hi)
	}
	return n
}

func f32ToF8Prefix(dst []uint8, src []float32, c *fp8Consts) int {
	n := len(src) &^ 31
	if !haveAVX2 || n == 0 {
		return 0
	}
	f32ToF8AVX2(&dst[0], &src[0], n, c)
	return n
}
