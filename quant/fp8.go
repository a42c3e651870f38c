package quant

import "math"

// The fp8 encoders work on float32 bits without branches, so the mix of subnormal and
// normal magnitudes in a weight tensor (|x| < 2^-6 is subnormal in e4m3fn, and most
// LLM weights are that small) costs no mispredictions. For a float32 magnitude a (sign
// bit cleared), with d = 23 - manBits mantissa bits dropped:
//
//   - normal: r = (a + 2^(d-1) - 1 + ((a >> d) & 1)) >> d rounds the mantissa half to
//     even (a carry out of the mantissa bumps the exponent, which is the right result),
//     and r - (127-bias)<<manBits rebiases the exponent. Clamping r first to the code
//     of the largest finite value saturates finite overflow and ±Inf.
//   - subnormal (a < 2^(1-bias), and zero): adding the float32 subnormalMagic, whose
//     ulp is the fp8 subnormal quantum 2^(1-bias-manBits), rounds |x| to that quantum
//     half to even in one float32 addition; the low bits of the sum are the code. A
//     result of 2^manBits is the smallest normal's code, which is right.
//   - NaN (a > 0x7f800000): the canonical NaN code with the sign kept.
//
// All three are computed and the right one is selected, which the compiler turns into
// conditional moves (a select whose arm computes something becomes a branch, so every
// arm is computed before the if). On amd64 with AVX2, f32ToF8AVX2 in kernels_amd64.s
// does the same arithmetic eight lanes at a time and these loops take the tail.
// fp8_test.go checks that both give tensor.F32ToF8E4M3 / F32ToF8E5M2 (the float64
// reference) on a dense sample and, with QSCRIPT_FULL_CAST=1, on every float32 pattern.
const (
	e4m3MinNormalBits  = 0x3c800000 // 2^-6, float32 bits
	e4m3SubnormalMagic = 1 << 14    // ulp 2^-9 = 2^(1-7-3)
	e4m3Rebias         = (127 - 7) << 3
	e4m3MaxCode        = 0x7e // 448
	e4m3NaNCode        = 0x7f

	e5m2MinNormalBits  = 0x38800000 // 2^-14
	e5m2SubnormalMagic = 1 << 7     // ulp 2^-16 = 2^(1-15-2)
	e5m2Rebias         = (127 - 15) << 2
	e5m2MaxCode        = 0x7b // 57344
	e5m2NaNCode        = 0x7e
)

// f8E4M3Magnitude encodes the float32 magnitude bits a (sign cleared) as fp8 e4m3
// magnitude bits; small enough to inline into the block loop.
func f8E4M3Magnitude(a uint32) uint32 {
	code := min((a+(1<<19-1)+(a>>20)&1)>>20, e4m3Rebias+e4m3MaxCode) - e4m3Rebias
	sub := math.Float32bits(math.Float32frombits(a)+e4m3SubnormalMagic) - math.Float32bits(e4m3SubnormalMagic)
	if a < e4m3MinNormalBits {
		code = sub
	}
	if a > 0x7f800000 {
		code = e4m3NaNCode
	}
	return code
}

// f8E5M2Magnitude encodes the float32 magnitude bits a (sign cleared) as fp8 e5m2
// magnitude bits; small enough to inline into the block loop.
func f8E5M2Magnitude(a uint32) uint32 {
	code := min((a+(1<<20-1)+(a>>21)&1)>>21, e5m2Rebias+e5m2MaxCode) - e5m2Rebias
	sub := math.Float32bits(math.Float32frombits(a)+e5m2SubnormalMagic) - math.Float32bits(e5m2SubnormalMagic)
	if a < e5m2MinNormalBits {
		code = sub
	}
	if a > 0x7f800000 {
		code = e5m2NaNCode
	}
	return code
}

// f32ToF8E4M3 encodes the float32 bits u as e4m3fn, sign included.
func f32ToF8E4M3(u uint32) uint8 {
	return uint8(u>>24)&0x80 | uint8(f8E4M3Magnitude(u&0x7fffffff))
}

// f32ToF8E5M2 encodes the float32 bits u as e5m2, sign included.
func f32ToF8E5M2(u uint32) uint8 {
	return uint8(u>>24)&0x80 | uint8(f8E5M2Magnitude(u&0x7fffffff))
}

// f32ToF8E4M3Block encodes one block in pure Go, four elements a step:
//
//	for i, x := range src { dst[i] = tensor.F32ToF8E4M3(x) }
func f32ToF8E4M3Block(dst []uint8, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s, d := src[i:i+4:i+4], dst[i:i+4:i+4]
		d[0] = f32ToF8E4M3(math.Float32bits(s[0]))
		d[1] = f32ToF8E4M3(math.Float32bits(s[1]))
		d[2] = f32ToF8E4M3(math.Float32bits(s[2]))
		d[3] = f32ToF8E4M3(math.Float32bits(s[3]))
	}
	for ; i < len(src); i++ {
		dst[i] = f32ToF8E4M3(math.Float32bits(src[i]))
	}
}

// f32ToF8E5M2Block encodes one block in pure Go, four elements a step:
//
//	for i, x := range src { dst[i] = tensor.F32ToF8E5M2(x) }
func f32ToF8E5M2Block(dst []uint8, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s, d := src[i:i+4:i+4], dst[i:i+4:i+4]
		d[0] = f32ToF8E5M2(math.Float32bits(s[0]))
		d[1] = f32ToF8E5M2(math.Float32bits(s[1]))
		d[2] = f32ToF8E5M2(math.Float32bits(s[2]))
		d[3] = f32ToF8E5M2(math.Float32bits(s[3]))
	}
	for ; i < len(src); i++ {
		dst[i] = f32ToF8E5M2(math.Float32bits(src[i]))
	}
}
