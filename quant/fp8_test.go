package quant

import (
	"math"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// eachFP8Path runs check on the AVX2 encoder (when the CPU has it) and on the pure-Go one.
func eachFP8Path(t *testing.T, check func(t *testing.T)) {
	if haveAVX2 {
		t.Run("avx2", check)
		defer func() { haveAVX2 = true }()
		haveAVX2 = false
	}
	t.Run("go", check)
}

func TestFP8MatchesScalar(t *testing.T) { eachFP8Path(t, testFP8MatchesScalar) }

func testFP8MatchesScalar(t *testing.T) {
	src := make([]float32, 1<<16)
	e4, e5 := make([]uint8, len(src)), make([]uint8, len(src))
	check := func() {
		if err := F32ToF8E4M3To(e4, src); err != nil {
			t.Fatal(err)
		}
		if err := F32ToF8E5M2To(e5, src); err != nil {
			t.Fatal(err)
		}
		for i, x := range src {
			if e4[i] != tensor.F32ToF8E4M3(x) || e5[i] != tensor.F32ToF8E5M2(x) {
				t.Fatalf("%#08x: e4m3 %#02x want %#02x, e5m2 %#02x want %#02x", math.Float32bits(x),
					e4[i], tensor.F32ToF8E4M3(x), e5[i], tensor.F32ToF8E5M2(x))
			}
		}
	}
	castSample(func(start uint32, n int) {
		for i := range src {
			src[i] = math.Float32frombits(start + uint32(i))
		}
		check()
	})
	// Every tie and neighbour around every fp8 value of both formats.
	src = src[:0]
	for c := 0; c < 256; c++ {
		for _, v := range []float32{tensor.F8E4M3ToF32(uint8(c)), tensor.F8E5M2ToF32(uint8(c))} {
			for _, w := range []float32{v, v * 1.0625, v * 1.125, v * 1.25, v * 0.9375} {
				src = append(src, w, math.Nextafter32(w, 0), math.Nextafter32(w, 1e30), -w)
			}
		}
	}
	e4, e5 = e4[:len(src)], e5[:len(src)]
	check()
}

// fp8Boundaries lists float32 bit patterns at and around every rounding decision of both
// fp8 formats: in every float32 binade, each kept-mantissa prefix with the dropped bits
// at zero, just below, at and just above half, and all ones; every subnormal tie
// (k+1/2)·2^(1-bias-manBits) and code value with their float32 neighbours; the
// saturation thresholds; and ±0, ±Inf and NaNs with assorted payloads.
func fp8Boundaries() []float32 {
	var bits []uint32
	for _, drop := range []uint32{20, 21} { // 23 - manBits for e4m3fn, e5m2
		half := uint32(1) << (drop - 1)
		lows := []uint32{0, 1, 2, half - 2, half - 1, half, half + 1, half + 2, 2*half - 2, 2*half - 1}
		for e := uint32(0); e < 256; e++ {
			for p := uint32(0); p < 1<<(23-drop); p++ {
				for _, low := range lows {
					bits = append(bits, e<<23|p<<drop|low)
				}
			}
		}
	}
	var xs []float32
	for _, u := range bits {
		xs = append(xs, math.Float32frombits(u))
	}
	for _, quantum := range []float64{1.0 / 512, 1.0 / 65536} { // e4m3fn, e5m2 subnormal steps
		for k := 0.0; k <= 8; k += 0.5 {
			v := float32(k * quantum)
			xs = append(xs, v, math.Nextafter32(v, 0), math.Nextafter32(v, 1))
		}
	}
	for _, v := range []float32{448, 464, 480, 496, 512, 57344, 61440, 65536, 65520, math.MaxFloat32,
		float32(math.Inf(1)), math.SmallestNonzeroFloat32} {
		xs = append(xs, v, math.Nextafter32(v, 0), math.Nextafter32(v, float32(math.Inf(1))))
	}
	for _, u := range []uint32{0x7f800001, 0x7fc00000, 0x7fffffff, 0x7fa00000, 0x7f800fff} {
		xs = append(xs, math.Float32frombits(u))
	}
	n := len(xs)
	for i := 0; i < n; i++ {
		xs = append(xs, -xs[i])
	}
	return xs
}

func TestFP8Boundaries(t *testing.T) { eachFP8Path(t, testFP8Boundaries) }

func testFP8Boundaries(t *testing.T) {
	xs := fp8Boundaries()
	// Cover each pattern at every position of a 32-wide vector and of the 4-wide Go step,
	// and in the scalar tail: rotate the list by every offset up to 33.
	e4, e5 := make([]uint8, len(xs)), make([]uint8, len(xs))
	for shift := 0; shift < 33; shift++ {
		src := append(append([]float32(nil), xs[shift:]...), xs[:shift]...)
		if err := F32ToF8E4M3To(e4, src); err != nil {
			t.Fatal(err)
		}
		if err := F32ToF8E5M2To(e5, src); err != nil {
			t.Fatal(err)
		}
		for i, x := range src {
			if e4[i] != tensor.F32ToF8E4M3(x) || e5[i] != tensor.F32ToF8E5M2(x) {
				t.Fatalf("%#08x (%g): e4m3 %#02x want %#02x, e5m2 %#02x want %#02x", math.Float32bits(x), x,
					e4[i], tensor.F32ToF8E4M3(x), e5[i], tensor.F32ToF8E5M2(x))
			}
		}
	}
	// The named cases, spelled out, so a reference change cannot go unnoticed.
	for _, c := range []struct {
		x      float32
		e4, e5 uint8
	}{
		{0, 0x00, 0x00},
		{float32(math.Copysign(0, -1)), 0x80, 0x80},
		{448, 0x7e, 0x5f},
		{464, 0x7e, 0x5f},
		{1e6, 0x7e, 0x7b},
		{-1e6, 0xfe, 0xfb},
		{float32(math.Inf(1)), 0x7e, 0x7b},
		{float32(math.Inf(-1)), 0xfe, 0xfb},
		{61440, 0x7e, 0x7b},
		{1.0 / 1024, 0x00, 0x14},  // e4m3: half the smallest subnormal, a tie to even 0
		{3.0 / 1024, 0x02, 0x1a},  // e4m3: 1.5 quanta, a tie to even 2
		{15.0 / 1024, 0x08, 0x24}, // e4m3: 7.5 quanta round up to the smallest normal
		{float32(math.NaN()), 0x7f, 0x7e},
	} {
		e4 := []uint8{0}
		e5 := []uint8{0}
		_ = F32ToF8E4M3To(e4, []float32{c.x})
		_ = F32ToF8E5M2To(e5, []float32{c.x})
		if e4[0] != c.e4 || e5[0] != c.e5 {
			t.Errorf("%g: e4m3 %#02x want %#02x, e5m2 %#02x want %#02x", c.x, e4[0], c.e4, e5[0], c.e5)
		}
	}
}
