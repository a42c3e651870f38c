package ggml

import "math"

// These helpers reproduce C conversions and library calls of ggml-quants.c bit for bit,
// as they behave on x86-64 (the reference build).

// nearestInt is nearest_int: adding 1.5*2^23 makes the float32 adder round x to an
// integer (ties to even) in the low mantissa bits. Valid for |x| <= 4194303; outside
// that range (and for NaN) it returns the same garbage ggml's bit trick returns.
func nearestInt(x float32) int32 {
	v := x + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// cvtt is C's float-to-int conversion as x86's cvttss2si does it: truncation toward
// zero, and INT_MIN for NaN and out-of-range values (which C leaves undefined). Casting
// its result to int8/uint8 gives C's (int8_t)f and (uint8_t)f on that platform.
func cvtt(x float32) int32 {
	if x >= -2147483648 && x < 2147483648 {
		return int32(x)
	}
	return math.MinInt32
}

// roundf is C's roundf (half away from zero) followed by cvtt, for the int8 stores of Q8_0.
func roundf(x float32) int32 {
	if !(x > -8388608 && x < 8388608) { // already integral, or ±Inf/NaN
		return cvtt(x)
	}
	t := int32(x)
	if f := x - float32(t); f >= 0.5 {
		t++
	} else if f <= -0.5 {
		t--
	}
	return t
}

// sqrtf is a correctly rounded float32 square root (the float64 root rounded once more
// is exact: 53 >= 2*24+2).
func sqrtf(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func absf(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// fp32ToFP16 is ggml's GGML_FP32_TO_FP16 for baseline x86-64 (no F16C): the portable
// conversion from Maratyszcza's FP16 library, rounding to nearest even, NaN to 0x7e00.
func fp32ToFP16(f float32) uint16 {
	const scaleToInf, scaleToZero = 0x1.0p+112, 0x1.0p-110
	base := float32(absf(f)*scaleToInf) * scaleToZero
	w := math.Float32bits(f)
	shl1 := w + w
	sign := w & 0x80000000
	bias := shl1 & 0xff000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits(bias>>1+0x07800000) + base
	bits := math.Float32bits(base)
	nonsign := (bits>>13)&0x7c00 + bits&0x0fff
	if shl1 > 0xff000000 {
		nonsign = 0x7e00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// fp16ToFP32 widens IEEE half bits to float32 (exact, as GGML_FP16_TO_FP32).
func fp16ToFP32(h uint16) float32 { return fp16Table[h] }

var fp16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for h := range t {
		t[h] = fp16Decode(uint16(h))
	}
	return &t
}()

func fp16Decode(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp, man := uint32(h>>10)&0x1f, uint32(h)&0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// subnormal half: man * 2^-24, exact in float32
	v := float32(man) * 0x1.0p-24
	return math.Float32frombits(sign | math.Float32bits(v))
}

func putU16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func getU16(b []byte) uint16    { return uint16(b[0]) | uint16(b[1])<<8 }
