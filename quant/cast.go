package quant

import (
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"

	"github.com/qscript-dev/qscript/tensor"
)

// The cast kernels give exactly the bits of the tensor package's scalar converters
// (tensor.F32ToF16, tensor.F32ToBF16, tensor.F32ToF8E4M3, ...), which round to nearest
// even as torch's .half(), .bfloat16() and float8 casts do; cast_test.go proves the fast
// paths equal over a dense sample of all float32 bit patterns. NaN and ±Inf are carried
// through, except that the fp8 casts saturate ±Inf to their largest finite value (±448
// for e4m3fn, which has no infinity; ±57344 for e5m2), as compressed-tensors' clamp
// before its fp8 cast does: casting is not quantizing, so non-finite values are not an
// error here. One known difference from
// torch: for NaN inputs torch 1.13 writes canonical NaNs (0x7e00 for half; 0xffff for
// bfloat16 on its AVX2 path), while these keep the sign and the top payload bits.

// F32ToF16To rounds each element to IEEE half, ties to even:
//
//	for i, x := range src { dst[i] = tensor.F32ToF16(x) }
func F32ToF16To(dst []uint16, src []float32) error {
	return castTo(dst, src, "F32ToF16To", func(d []uint16, s []float32) {
		done := f32ToF16Prefix(d, s)
		for i, x := range s[done:] {
			d[done+i] = tensor.F32ToF16(x)
		}
	})
}

// F16ToF32To widens IEEE half bits to float32 (exact):
//
//	for i, h := range src { dst[i] = tensor.F16ToF32(h) }
func F16ToF32To(dst []float32, src []uint16) error {
	return castTo(dst, src, "F16ToF32To", func(d []float32, s []uint16) {
		done := f16ToF32Prefix(d, s)
		for i, h := range s[done:] {
			d[done+i] = tensor.F16ToF32(h)
		}
	})
}

// F32ToBF16To rounds each element to bfloat16, ties to even:
//
//	for i, x := range src { dst[i] = tensor.F32ToBF16(x) }
func F32ToBF16To(dst []uint16, src []float32) error {
	return castTo(dst, src, "F32ToBF16To", func(d []uint16, s []float32) {
		done := f32ToBF16Prefix(d, s)
		for i, x := range s[done:] {
			d[done+i] = tensor.F32ToBF16(x)
		}
	})
}

// BF16ToF32To widens bfloat16 bits to float32 (exact):
//
//	for i, b := range src { dst[i] = tensor.BF16ToF32(b) }
func BF16ToF32To(dst []float32, src []uint16) error {
	return castTo(dst, src, "BF16ToF32To", func(d []float32, s []uint16) {
		done := bf16ToF32Prefix(d, s)
		for i, b := range s[done:] {
			d[done+i] = tensor.BF16ToF32(b)
		}
	})
}

// F32ToF8E4M3To encodes float8 e4m3fn, rounding to nearest even and saturating at ±448:
//
//	for i, x := range src { dst[i] = tensor.F32ToF8E4M3(x) }
func F32ToF8E4M3To(dst []uint8, src []float32) error {
	return castTo(dst, src, "F32ToF8E4M3To", func(d []uint8, s []float32) {
		done := f32ToF8E4M3Prefix(d, s)
		f32ToF8E4M3Block(d[done:], s[done:])
	})
}

// F8E4M3ToF32To decodes float8 e4m3fn.
func F8E4M3ToF32To(dst []float32, src []uint8) error {
	return castTo(dst, src, "F8E4M3ToF32To", func(d []float32, s []uint8) {
		for i, c := range s {
			d[i] = tensor.F8E4M3ToF32(c)
		}
	})
}

// F32ToF8E5M2To encodes float8 e5m2, rounding to nearest even and saturating at ±57344:
//
//	for i, x := range src { dst[i] = tensor.F32ToF8E5M2(x) }
func F32ToF8E5M2To(dst []uint8, src []float32) error {
	return castTo(dst, src, "F32ToF8E5M2To", func(d []uint8, s []float32) {
		done := f32ToF8E5M2Prefix(d, s)
		f32ToF8E5M2Block(d[done:], s[done:])
	})
}

// F8E5M2ToF32To decodes float8 e5m2.
func F8E5M2ToF32To(dst []float32, src []uint8) error {
	return castTo(dst, src, "F8E5M2ToF32To", func(d []float32, s []uint8) {
		for i, c := range s {
			d[i] = tensor.F8E5M2ToF32(c)
		}
	})
}

// DequantizeFP8To decodes fp8 codes of dt (F8E4M3 or F8E5M2) and multiplies them by
// scale, by table lookup:
//
//	for i, c := range src { dst[i] = tensor.F8E4M3ToF32(c) * scale }
func DequantizeFP8To(dst []float32, src []uint8, scale float32, dt tensor.DType) error {
	if len(dst) != len(src) {
		return fmt.Errorf("quant: DequantizeFP8To: %d values for %d codes", len(dst), len(src))
	}
	table, ok := fp8TableOf(dt)
	if !ok {
		return fmt.Errorf("quant: DequantizeFP8To: %v is not an fp8 type", dt)
	}
	for i, c := range src {
		dst[i] = table[c] * scale
	}
	return nil
}

// fp8TableOf is the decoding table of dt (F8E4M3 or F8E5M2).
func fp8TableOf(dt tensor.DType) (*[256]float32, bool) {
	switch dt {
	case tensor.F8E4M3:
		return fp8E4M3Values, true
	case tensor.F8E5M2:
		return fp8E5M2Values, true
	}
	return nil, false
}

// fp8E4M3Values and fp8E5M2Values decode every fp8 code.
var fp8E4M3Values, fp8E5M2Values = fp8Table(tensor.F8E4M3ToF32), fp8Table(tensor.F8E5M2ToF32)

func fp8Table(decode func(uint8) float32) *[256]float32 {
	var t [256]float32
	for c := range t {
		t[c] = decode(uint8(c))
	}
	return &t
}

// castTo checks lengths once and runs kernel over disjoint blocks in parallel.
func castTo[D, S any](dst []D, src []S, name string, kernel func([]D, []S)) error {
	if len(dst) != len(src) {
		return fmt.Errorf("quant: %s: %d outputs for %d inputs", name, len(dst), len(src))
	}
	return parallel.Ranges(len(src)/blockElems+1, 4*len(src), func(b0, b1 int) error {
		lo, hi := min(b0*blockElems, len(src)), min(b1*blockElems, len(src))
		kernel(dst[lo:hi], src[lo:hi])
		return nil
	})
}

// Cast converts a floating-point tensor to F32, F16, BF16, F8E4M3 or F8E5M2 and returns a
// new contiguous tensor. Integer tensors are refused: SPEC §4 casts only float tensors,
// and the caller decides to leave integer tensors alone.
func Cast(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("quant: cannot cast %v tensor to %v: not a float tensor", t.DType, dt)
	}
	if t.DType == dt {
		return t.Clone(), nil
	}
	x := t.ToF32()
	out := tensor.New(dt, t.Shape...)
	var err error
	switch dt {
	case tensor.F32:
		copy(out.F32(), x)
	case tensor.F16:
		err = F32ToF16To(out.U16(), x)
	case tensor.BF16:
		err = F32ToBF16To(out.U16(), x)
	case tensor.F8E4M3:
		err = F32ToF8E4M3To(out.U8(), x)
	case tensor.F8E5M2:
		err = F32ToF8E5M2To(out.U8(), x)
	default:
		return nil, fmt.Errorf("quant: cannot cast to %v (want F32, F16, BF16, F8_E4M3 or F8_E5M2)", dt)
	}
	return out, err
}

// CastRoundTrip casts t to dt and back to F32: the float32 values a dt model would hold,
// for error metrics and "fake" layouts.
func CastRoundTrip(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	c, err := Cast(t, dt)
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.F32, t.Shape...)
	y := out.F32()
	switch dt {
	case tensor.F32:
		copy(y, c.F32())
	case tensor.F16:
		err = F16ToF32To(y, c.U16())
	case tensor.BF16:
		err = BF16ToF32To(y, c.U16())
	case tensor.F8E4M3:
		err = F8E4M3ToF32To(y, c.U8())
	case tensor.F8E5M2:
		err = F8E5M2ToF32To(y, c.U8())
	}
	return out, err
}
