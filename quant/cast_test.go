package quant

import (
	"math"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// castSample yields float32 bit patterns: every pattern when QSCRIPT_FULL_CAST=1 (2^32;
// TestFP8MatchesScalar then takes about three minutes for its AVX2 and Go encoders),
// otherwise one full run of 2^16 patterns in every 61 (a dense 1.6% of all patterns);
// TestCastKernelsMatchScalar adds every tie, TestFP8Boundaries every fp8 boundary.
func castSample(yield func(start uint32, n int)) {
	const block = 1 << 16
	if os.Getenv("QSCRIPT_FULL_CAST") == "1" {
		for hi := uint64(0); hi < 1<<32; hi += block {
			yield(uint32(hi), block)
		}
		return
	}
	for hi := uint64(0); hi < 1<<32; hi += 61 * block {
		yield(uint32(hi), block) // dense: a full 2^16 run every 61 runs
	}
}

func TestCastKernelsMatchScalar(t *testing.T) {
	if !haveF16C {
		t.Log("no F16C/AVX2: only the pure-Go paths run")
	}
	src := make([]float32, 1<<16)
	h := make([]uint16, len(src))
	b := make([]uint16, len(src))
	back := make([]float32, len(src))
	castSample(func(start uint32, n int) {
		for i := range src {
			src[i] = math.Float32frombits(start + uint32(i))
		}
		// Boundary patterns: exact ties and their neighbours for half (13 dropped bits)
		// and bfloat16 (16 dropped bits), in every exponent.
		if err := F32ToF16To(h, src); err != nil {
			t.Fatal(err)
		}
		if err := F32ToBF16To(b, src); err != nil {
			t.Fatal(err)
		}
		for i, x := range src {
			if h[i] != tensor.F32ToF16(x) {
				t.Fatalf("F32ToF16(%#08x) = %#04x, want %#04x", math.Float32bits(x), h[i], tensor.F32ToF16(x))
			}
			if b[i] != tensor.F32ToBF16(x) {
				t.Fatalf("F32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(x), b[i], tensor.F32ToBF16(x))
			}
		}
	})
	// Ties: for every exponent and sign, mantissas ending in exactly half an ulp.
	for e := uint32(0); e < 256; e++ {
		for s := uint32(0); s < 2; s++ {
			for m := uint32(0); m < 1<<10; m++ {
				for _, low := range []uint32{0x1000, 0x0fff, 0x1001, 0x8000, 0x7fff, 0x8001} {
					u := s<<31 | e<<23 | (m<<13)&0x7fffff | low
					x := math.Float32frombits(u)
					src1 := []float32{x}
					var h1, b1 [1]uint16
					// Exercise the vector path by padding to 32.
					pad := make([]float32, 32)
					pad[7] = x
					h32, b32 := make([]uint16, 32), make([]uint16, 32)
					_ = F32ToF16To(h32, pad)
					_ = F32ToBF16To(b32, pad)
					_ = F32ToF16To(h1[:], src1)
					_ = F32ToBF16To(b1[:], src1)
					if h32[7] != tensor.F32ToF16(x) || h1[0] != h32[7] || b32[7] != tensor.F32ToBF16(x) || b1[0] != b32[7] {
						t.Fatalf("tie %#08x: half %#04x/%#04x want %#04x, bf16 %#04x want %#04x",
							u, h32[7], h1[0], tensor.F32ToF16(x), b32[7], tensor.F32ToBF16(x))
					}
				}
			}
		}
	}
	// Widening: every half pattern.
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	if err := F16ToF32To(back, all); err != nil {
		t.Fatal(err)
	}
	for i, v := range all {
		if math.Float32bits(back[i]) != math.Float32bits(tensor.F16ToF32(v)) {
			t.Fatalf("F16ToF32(%#04x) = %#08x", v, math.Float32bits(back[i]))
		}
	}
	// Every bfloat16 pattern, vector kernel and Go loop, and a tail the vector skips.
	for _, vector := range []bool{true, false} {
		saved := haveAVX2
		haveAVX2 = haveAVX2 && vector
		clear(back)
		err := BF16ToF32To(back[:len(all)-5], all[:len(all)-5])
		haveAVX2 = saved
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range all[:len(all)-5] {
			if math.Float32bits(back[i]) != math.Float32bits(tensor.BF16ToF32(v)) {
				t.Fatalf("vector=%v: BF16ToF32(%#04x) = %#08x", vector, v, math.Float32bits(back[i]))
			}
		}
	}
}

func TestCastTensor(t *testing.T) {
	x := tensor.FromF32([]int{2, 3}, []float32{1, -2.5, 3.14159, 65520, 1e-8, 448.5})
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.F8E4M3, tensor.F8E5M2} {
		rt, err := CastRoundTrip(x, dt)
		if err != nil {
			t.Fatal(err)
		}
		want := tensor.FromF32To(dt, x.Shape, x.F32()).ToF32()
		for i, v := range rt.F32() {
			if math.Float32bits(v) != math.Float32bits(want[i]) {
				t.Fatalf("%v: element %d = %v, want %v", dt, i, v, want[i])
			}
		}
	}
	if _, err := Cast(tensor.New(tensor.I32, 3), tensor.F16); err == nil {
		t.Fatal("casting an int tensor should fail")
	}
	if _, err := Cast(x, tensor.I8); err == nil {
		t.Fatal("casting to I8 should fail")
	}
}
