package tensor

import (
	"math"
	"testing"
)

func TestBF16RoundsHalfToEven(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, // max float rounds to inf, as torch does
		{0xffc00001, 0xffc0},
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("F32ToBF16(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

// Values from the OCP 8-bit floating point specification (v1.0), tables 1 and 2.
func TestFP8KnownCodes(t *testing.T) {
	e4 := map[float32]uint8{448: 0x7e, -448: 0xfe, 1: 0x38, 0.001953125: 0x01, 0.015625: 0x08, 1000: 0x7e, 240: 0x77}
	for v, c := range e4 {
		if got := F32ToF8E4M3(v); got != c {
			t.Errorf("e4m3(%v) = %#x, want %#x", v, got, c)
		}
	}
	e5 := map[float32]uint8{57344: 0x7b, 1: 0x3c, 1.52587890625e-05: 0x01, 6.103515625e-05: 0x04, 1e9: 0x7b}
	for v, c := range e5 {
		if got := F32ToF8E5M2(v); got != c {
			t.Errorf("e5m2(%v) = %#x, want %#x", v, got, c)
		}
	}
	if got := F32ToF8E4M3(float32(math.Inf(-1))); got != 0xfe {
		t.Errorf("e4m3(-inf) = %#x, want saturated 0xfe", got)
	}
	if !math.IsNaN(float64(F8E4M3ToF32(F32ToF8E4M3(float32(math.NaN()))))) {
		t.Error("e4m3 NaN not kept")
	}
	// Ties: 1 + 1/16 lies halfway between 1 and 1.125 in e4m3 and rounds to even (1).
	if got := F32ToF8E4M3(1.0625); got != 0x38 {
		t.Errorf("e4m3(1.0625) = %#x, want 0x38", got)
	}
	if got := F32ToF8E4M3(1.1875); got != 0x3a {
		t.Errorf("e4m3(1.1875) = %#x, want 0x3a", got)
	}
}

func TestFP8RoundTripEveryCode(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, f := range []struct {
			dec func(uint8) float32
			enc func(float32) uint8
		}{{F8E4M3ToF32, F32ToF8E4M3}, {F8E5M2ToF32, F32ToF8E5M2}} {
			v := f.dec(uint8(c))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				continue
			}
			if got := f.enc(v); f.dec(got) != v {
				t.Errorf("code %#x: %v re-encodes to %#x", c, v, got)
			}
		}
	}
}

func TestContiguousFromStrides(t *testing.T) {
	base := FromF32([]int{2, 3}, []float32{0, 1, 2, 3, 4, 5})
	tr := &Tensor{DType: F32, Shape: []int{3, 2}, Strides: []int{1, 3}, Data: base.Data}
	got := tr.Contiguous().F32()
	want := []float32{0, 3, 1, 4, 2, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("transpose = %v, want %v", got, want)
		}
	}
}

func TestNumelOverflow(t *testing.T) {
	if _, err := Numel([]int{1 << 40, 1 << 40}); err == nil {
		t.Fatal("want overflow error")
	}
	if _, err := Numel([]int{-1}); err == nil {
		t.Fatal("want negative dimension error")
	}
	if n, _ := Numel(nil); n != 1 {
		t.Fatal("0-d tensor must have one element")
	}
}
