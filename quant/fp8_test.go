package quant

import (
	"math"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

func TestFP8MatchesScalar(t *testing.T) {
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
