package quant

import "math"

// fp8Format describes float8 encoding by float32 bit arithmetic: the same results as
// tensor.F32ToF8E4M3 / F32ToF8E5M2 (round to nearest even, saturate to the largest finite
// value, NaN kept with its sign), which fp8_test.go checks over a dense sample of all
// float32 bit patterns, at roughly fifty times the speed of the float64 reference.
type fp8Format struct {
	manBits   uint32  // 3 for e4m3fn, 2 for e5m2
	bias      uint32  // exponent bias: 7, 15
	maxCode   uint8   // largest finite magnitude code: 0x7e (448), 0x7b (57344)
	nanCode   uint8   // canonical NaN without sign: 0x7f, 0x7e
	minNormal float32 // 2^(1-bias)
	subScale  float32 // 2^(bias-1+manBits): a subnormal's code is round(|x| * subScale)
}

var (
	fp8E4M3 = fp8Format{manBits: 3, bias: 7, maxCode: 0x7e, nanCode: 0x7f, minNormal: 1.0 / 64, subScale: 512}
	fp8E5M2 = fp8Format{manBits: 2, bias: 15, maxCode: 0x7b, nanCode: 0x7e, minNormal: 1.0 / 16384, subScale: 65536}
)

func (f *fp8Format) encode(x float32) uint8 {
	u := math.Float32bits(x)
	sign := uint8(u>>24) & 0x80
	a := u & 0x7fffffff
	if a > 0x7f800000 {
		return sign | f.nanCode
	}
	if math.Float32frombits(a) < f.minNormal {
		// Subnormal (or zero): |x|*subScale < 2^manBits is exact, the magic add rounds it
		// half to even, and a result of 2^manBits is the smallest normal's code.
		v := math.Float32frombits(a) * f.subScale
		return sign | uint8(float32(v+roundMagic)-roundMagic)
	}
	drop := 23 - f.manBits
	r := a + (1<<(drop-1) - 1) + (a>>drop)&1 // round the mantissa half to even
	code := r>>drop - (127-f.bias)<<f.manBits
	if r>>drop > (127-f.bias)<<f.manBits+uint32(f.maxCode) {
		return sign | f.maxCode
	}
	return sign | uint8(code)
}

func (f *fp8Format) encodeTo(dst []uint8, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = f.encode(x)
	}
}
