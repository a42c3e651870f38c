package tensor

import (
	"math"

	"github.com/x448/float16"
)

// F16ToF32 widens IEEE half bits to float32 (exact).
func F16ToF32(h uint16) float32 { return float16.Frombits(h).Float32() }

// F32ToF16 rounds to the nearest half, ties to even, as torch's .half() does.
func F32ToF16(f float32) uint16 { return uint16(float16.Fromfloat32(f)) }

// BF16ToF32 widens bfloat16 bits to float32 (exact).
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds to the nearest bfloat16, ties to even, as torch's .bfloat16() does.
// NaN stays a quiet NaN with the sign kept.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x0040
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// fp8 describes a float8 format with expBits exponent and manBits mantissa bits.
type fp8 struct {
	expBits, manBits, bias int
	maxFinite              float64
	nan                    uint8 // canonical NaN code without the sign
	decode                 [256]float32
}

// FP8 formats. Both round to nearest even and saturate: a finite value or an infinity
// beyond the largest finite magnitude becomes that magnitude with its sign (448 for
// e4m3fn, 57344 for e5m2). NaN stays NaN. This is the "satfinite" conversion that
// compressed-tensors and vLLM apply (they clamp to the finite range before casting).
var (
	e4m3 = newFP8(4, 3, 7, 448, 0x7f)
	e5m2 = newFP8(5, 2, 15, 57344, 0x7e)
)

func newFP8(expBits, manBits, bias int, maxFinite float64, nan uint8) *fp8 {
	f := &fp8{expBits: expBits, manBits: manBits, bias: bias, maxFinite: maxFinite, nan: nan}
	for c := 0; c < 256; c++ {
		f.decode[c] = f.decodeSlow(uint8(c))
	}
	return f
}

func (f *fp8) decodeSlow(c uint8) float32 {
	sign := 1.0
	if c&0x80 != 0 {
		sign = -1
	}
	e := int(c>>f.manBits) & (1<<f.expBits - 1)
	m := int(c) & (1<<f.manBits - 1)
	maxExp := 1<<f.expBits - 1
	if f.expBits == 4 && e == maxExp && m == 1<<f.manBits-1 {
		return float32(math.NaN())
	}
	if f.expBits == 5 && e == maxExp {
		if m == 0 {
			return float32(sign * math.Inf(1))
		}
		return float32(math.NaN())
	}
	if e == 0 {
		return float32(sign * math.Ldexp(float64(m), 1-f.bias-f.manBits))
	}
	return float32(sign * math.Ldexp(float64(m|1<<f.manBits), e-f.bias-f.manBits))
}

func (f *fp8) encode(x float32) uint8 {
	v := float64(x)
	var sign uint8
	if math.Signbit(v) {
		sign = 0x80
		v = -v
	}
	if math.IsNaN(v) {
		return sign | f.nan
	}
	if v >= f.maxFinite {
		return sign | f.encodeExact(f.maxFinite)
	}
	// Quantum of the binade holding v; subnormals share the smallest normal's quantum.
	_, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	e := exp - 1
	if e < 1-f.bias {
		e = 1 - f.bias
	}
	q := math.Ldexp(1, e-f.manBits)
	r := math.RoundToEven(v/q) * q // exact: v/q scales by a power of two
	if r > f.maxFinite {
		r = f.maxFinite
	}
	return sign | f.encodeExact(r)
}

// encodeExact encodes a non-negative value that is representable.
func (f *fp8) encodeExact(v float64) uint8 {
	if v == 0 {
		return 0
	}
	minNormal := math.Ldexp(1, 1-f.bias)
	if v < minNormal {
		return uint8(v / math.Ldexp(1, 1-f.bias-f.manBits))
	}
	_, exp := math.Frexp(v)
	e := exp - 1
	m := v/math.Ldexp(1, e-f.manBits) - float64(int(1)<<f.manBits)
	return uint8((e+f.bias)<<f.manBits | int(m))
}

// F8E4M3ToF32 decodes float8 e4m3fn.
func F8E4M3ToF32(c uint8) float32 { return e4m3.decode[c] }

// F32ToF8E4M3 encodes float8 e4m3fn, rounding to nearest even and saturating at ±448.
func F32ToF8E4M3(f float32) uint8 { return e4m3.encode(f) }

// F8E5M2ToF32 decodes float8 e5m2.
func F8E5M2ToF32(c uint8) float32 { return e5m2.decode[c] }

// F32ToF8E5M2 encodes float8 e5m2, rounding to nearest even and saturating at ±57344.
func F32ToF8E5M2(f float32) uint8 { return e5m2.encode(f) }
