package quant

import (
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"
)

// Code is the element type that holds quantized codes: int8 for qint8 and (unpacked)
// int4, uint8 for quint8 and uint4, int16 for int16, int32 for qint32.
type Code interface {
	int8 | uint8 | int16 | int32
}

// roundMagic is 1.5*2^23. For float32 |y| <= 2^22, (y + roundMagic) - roundMagic equals
// math.RoundToEven(y): the sum lies in [2^23, 2^24) where float32 spacing is 1, so the
// addition rounds y to an integer, half to even (roundMagic is even, so the parity of the
// sum is the parity of the integer), and the subtraction is exact. The kernels clamp
// before rounding, so |y| never exceeds 65536 here; TestRoundMagic checks the claim.
const roundMagic = float32(1.5 * (1 << 23))

// affine is one scale's quantize arithmetic, computed once per scale.
type affine struct {
	mul    float32 // 1/scale (torch), or scale itself when div (ORT)
	div    bool
	lo, hi float32 // q.Min-zp and q.Max-zp
	zp     float32
}

// newAffine prepares the quantize arithmetic of scale and zp for s. Clamping y = x/scale to
// [q.Min-zp, q.Max-zp] before rounding gives the same codes as clamping zp+round(y) to
// [q.Min, q.Max] afterwards (rounding is monotonic and keeps integers), and keeps every
// intermediate an exact small integer in float32.
func newAffine(scale float32, zp int32, s Scheme) (affine, error) {
	if !(scale > 0) || math.IsInf(float64(scale), 1) {
		return affine{}, fmt.Errorf("quant: scale %v must be positive and finite", scale)
	}
	q := s.QType
	if q.Bits > 16 {
		return affine{}, fmt.Errorf("quant: %s codes are wider than the float32 kernels support", q.Name)
	}
	if zp < -1<<20 || zp > 1<<20 {
		return affine{}, fmt.Errorf("quant: zero point %d out of range for %s", zp, q.Name)
	}
	return affineOf(scale, zp, s), nil
}

// affineOf is newAffine without its checks, for callers that made them.
func affineOf(scale float32, zp int32, s Scheme) affine {
	a := affine{lo: float32(s.QType.Min - zp), hi: float32(s.QType.Max - zp), zp: float32(zp)}
	if s.Numerics == ORT {
		a.mul, a.div = scale, true
	} else {
		a.mul = 1 / scale // float32 reciprocal, as torch's quantize_val and fbgemm
	}
	return a
}

// quantizeRow quantizes src into dst[:len(src)] with one scale and reports whether every
// input was finite. Codes produced for NaN or ±Inf are unspecified (callers return an
// error instead).
func quantizeRow[T Code](dst []T, src []float32, a *affine) (finite bool) {
	done, bad := quantizeBytesPrefix(dst, src, a)
	return quantizeRowGo(dst[done:len(src)], src[done:], a) && !bad
}

// quantizeRowGo is the reference loop of the quantize kernels:
//
//	for i, x := range src {
//		y := x * (1/scale)               // torch; ORT: y := x / scale
//		dst[i] = T(zp + round_half_even(clamp(y, q.Min-zp, q.Max-zp)))
//	}
func quantizeRowGo[T Code](dst []T, src []float32, a *affine) (finite bool) {
	dst = dst[:len(src)]
	var nonFinite uint32
	lo, hi, zp, mul := a.lo, a.hi, a.zp, a.mul
	if a.div {
		for i, x := range src {
			nonFinite |= math.Float32bits(x - x)
			y := min(max(float32(x/mul), lo), hi)
			dst[i] = T(int32(float32(float32(y+roundMagic)-roundMagic) + zp))
		}
	} else {
		for i, x := range src {
			nonFinite |= math.Float32bits(x - x)
			y := min(max(float32(x*mul), lo), hi)
			dst[i] = T(int32(float32(float32(y+roundMagic)-roundMagic) + zp))
		}
	}
	return nonFinite == 0
}

// dequantizeRow is the reference loop of the dequantize kernels, in float32 as torch's
// dequantize and ONNX DequantizeLinear:
//
//	for i, q := range src { dst[i] = float32(int32(q) - zp) * scale }
func dequantizeRow[T Code](dst []float32, src []T, scale float32, zp int32) {
	dst = dst[:len(src)]
	for i, q := range src {
		dst[i] = float32(int32(q)-zp) * scale
	}
}

// minMaxRow returns the smallest and largest element of x (+Inf, -Inf when x is empty)
// and whether every element is finite.
func minMaxRow(x []float32) (lo, hi float32, finite bool) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	plo, phi, done, nan := minMaxPrefix(x)
	if done > 0 {
		lo, hi = plo, phi
	}
	for _, v := range x[done:] {
		lo = min(lo, v) // Go's min and max propagate NaN
		hi = max(hi, v)
	}
	finite = !nan && lo-lo == 0 && hi-hi == 0
	if len(x) == 0 {
		finite = true
	}
	return lo, hi, finite
}

// checkCodeType reports whether T can hold every code of q.
func checkCodeType[T Code](q QType) error {
	var lo, hi int64
	var zero T
	switch any(zero).(type) {
	case int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case uint8:
		lo, hi = 0, math.MaxUint8
	case int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case int32:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	if int64(q.Min) < lo || int64(q.Max) > hi {
		return fmt.Errorf("quant: %s codes (%d..%d) do not fit a %T", q.Name, q.Min, q.Max, zero)
	}
	return nil
}

// QuantizeTo quantizes src into dst with one scale and zero point:
//
//	for i, x := range src {
//		dst[i] = clamp(zp + round_half_even(x * (1/scale)), s.QType.Min, s.QType.Max) // s.Numerics == Torch
//		dst[i] = clamp(round_half_even(x / scale) + zp, s.QType.Min, s.QType.Max)     // s.Numerics == ORT
//	}
//
// The torch form multiplies by a float32 reciprocal, as torch 1.13's quantize_val and
// fbgemm do; the ORT form divides, as onnxruntime's QuantizeLinear and quantize_nparray do.
// Both clamp to the full range of the type (torch clamps to the dtype even when the
// observer used reduce_range). A NaN or ±Inf in src gives a *NonFiniteError (dst is then
// partly written). Codes wider than 16 bits are refused.
func QuantizeTo[T Code](dst []T, src []float32, scale float32, zp int32, s Scheme) error {
	if len(dst) != len(src) {
		return fmt.Errorf("quant: QuantizeTo: %d codes for %d values", len(dst), len(src))
	}
	if err := checkCodeType[T](s.QType); err != nil {
		return err
	}
	a, err := newAffine(scale, zp, s)
	if err != nil {
		return err
	}
	return parallel.Ranges(len(src)/blockElems+1, 4*len(src), func(b0, b1 int) error {
		lo, hi := min(b0*blockElems, len(src)), min(b1*blockElems, len(src))
		if !quantizeRow(dst[lo:hi], src[lo:hi], &a) {
			return findNonFinite(src[lo:hi], lo)
		}
		return nil
	})
}

// blockElems is the unit in which flat per-tensor work is split between workers.
const blockElems = 1 << 14

// DequantizeTo maps codes back to float32 with one scale and zero point:
//
//	for i, q := range src { dst[i] = float32(int32(q) - zp) * scale }
func DequantizeTo[T Code](dst []float32, src []T, scale float32, zp int32) error {
	if len(dst) != len(src) {
		return fmt.Errorf("quant: DequantizeTo: %d values for %d codes", len(dst), len(src))
	}
	if 4*len(src) < parallel.MinBytes { // a run of one scale among many: no closure
		dequantizeRow(dst, src, scale, zp)
		return nil
	}
	return parallel.Ranges(len(src)/blockElems+1, 4*len(src), func(b0, b1 int) error {
		lo, hi := min(b0*blockElems, len(src)), min(b1*blockElems, len(src))
		dequantizeRow(dst[lo:hi], src[lo:hi], scale, zp)
		return nil
	})
}

// DequantizeChannelsTo is DequantizeTo for channels interleaved element by element (the
// last axis of an ONNX MatMul weight [in, out]), where runs of one scale would cost a call
// per element: element i of dst belongs to channel (first+i) mod len(scale), whose zero
// point is zp[k]-shift (codes of unsigned types stored signed).
//
//	for i, q := range src { k := (first+i) % len(scale); dst[i] = float32(int32(q) - (zp[k]-shift)) * scale[k] }
func DequantizeChannelsTo(dst []float32, src []int8, scale []float32, zp []int32, shift int32, first int) error {
	if len(dst) != len(src) || len(scale) == 0 || len(zp) != len(scale) {
		return fmt.Errorf("quant: DequantizeChannelsTo: %d values for %d codes in %d channels", len(dst), len(src), len(scale))
	}
	channels := len(scale)
	for i, q := range src {
		k := (first + i) % channels
		dst[i] = float32(int32(q)-(zp[k]-shift)) * scale[k]
	}
	return nil
}

// RangeFold folds the ranges of parts of x (blocks, rows, groups), all finite, into the
// range MinMaxOf(x) gives, without a pass of its own over x: the parts' ranges combine
// with Go's min and max, and when one ends at a zero (whose sign could depend on where the
// parts split or the order in which they combine) Range asks MinMaxOf(x).
type RangeFold struct {
	lo, hi float32
	zero   bool
}

// NewRangeFold is a fold of no ranges yet: (+Inf, -Inf), the never-observed range.
func NewRangeFold() RangeFold {
	return RangeFold{lo: float32(math.Inf(1)), hi: float32(math.Inf(-1))}
}

// Add folds in the range [lo, hi] of a part.
func (r *RangeFold) Add(lo, hi float32) {
	r.lo, r.hi, r.zero = min(r.lo, lo), max(r.hi, hi), r.zero || lo == 0 || hi == 0
}

// Range is the range of x, whose parts' ranges were added.
func (r *RangeFold) Range(x []float32) (lo, hi float32) {
	if r.zero {
		lo, hi, _ = MinMaxOf(x)
		return lo, hi
	}
	return r.lo, r.hi
}

// MinMaxOf returns the smallest and largest element of x, or a *NonFiniteError for the
// first NaN or ±Inf. An empty x gives (+Inf, -Inf), the never-observed range.
func MinMaxOf(x []float32) (lo, hi float32, err error) {
	los := make([]float32, len(x)/blockElems+1)
	his := make([]float32, len(los))
	err = parallel.Ranges(len(los), 4*len(x), func(b0, b1 int) error {
		for b := b0; b < b1; b++ {
			lo, hi := min(b*blockElems, len(x)), min((b+1)*blockElems, len(x))
			var finite bool
			los[b], his[b], finite = minMaxRow(x[lo:hi])
			if !finite {
				return findNonFinite(x[lo:hi], lo)
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for i := range los {
		lo, hi = min(lo, los[i]), max(hi, his[i])
	}
	return lo, hi, nil
}
