//go:build amd64 && !purego

package quant

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/qscript-dev/qscript/tensor"
)

// TestStatsAVX512MatchesAVX2 runs every statistics call without a histogram (AddCodes,
// addGroups, AddFloats, AddFP8) through the AVX-512 kernels and through the AVX2 ones,
// run after run into one accumulator (the lanes go back to memory and come in again
// between calls, the scalar tails go to the rest), and requires the same lanes and sums
// bit for bit: the same float64 terms in the same lanes in the same order. Values include
// zeros of both signs, subnormals and, for fp8, scales whose products overflow to ±Inf.
func TestStatsAVX512MatchesAVX2(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(51, 2))
	lengths := []int{8, 16, 1, 7, 9, 24, 263, 4096, 4099, 11008}
	values := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.05)
			switch rng.IntN(16) {
			case 0:
				x[i] = float32(math.Copysign(0, -1))
			case 1:
				x[i] = float32(rng.NormFloat64() * 0x1p-135)
			}
		}
		return x
	}
	cases := map[string]func(a *StatsAcc, n int){
		"codes": func(a *StatsAcc, n int) {
			codes := make([]int8, n)
			for i := range codes {
				codes[i] = int8(rng.IntN(256) - 128)
			}
			a.AddCodes(nil, values(n), codes, float32(rng.Float64()*0.01), int32(rng.IntN(9)-4), 0, 0)
		},
		"groups": func(a *StatsAcc, n int) {
			size := 8 << rng.IntN(5)
			g := (n + size - 1) / size
			codes := make([]int8, g*size)
			scale, zp := make([]float32, g), make([]int32, g)
			for i := range codes {
				codes[i] = int8(rng.IntN(16) - 8)
			}
			for i := range scale {
				scale[i], zp[i] = float32(rng.Float64()*0.02), int32(rng.IntN(16))
			}
			a.addGroups(nil, values(g*size), codes, size, scale, zp, 8, 0, 0)
		},
		"floats": func(a *StatsAcc, n int) {
			a.AddFloats(nil, values(n), values(n), 0, 0)
		},
	}
	for _, dt := range []tensor.DType{tensor.F8E4M3, tensor.F8E5M2} {
		cases[dt.String()] = func(a *StatsAcc, n int) {
			codes := make([]uint8, n)
			for i := range codes {
				codes[i] = uint8(rng.IntN(256))&^0x7f | uint8(rng.IntN(0x78)) // finite in both types
			}
			scale := []float32{0.0123, 0x1p-140, 3e38}[rng.IntN(3)]
			if err := a.AddFP8(nil, values(n), codes, scale, dt, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, add := range cases {
		for trial := range 4 {
			seed := rng.Uint64()
			var accs [2]StatsAcc
			for i, wide := range []bool{false, true} {
				saved := haveAVX512
				haveAVX512 = wide
				rng = rand.New(rand.NewPCG(seed, 1)) // the same data for both
				for _, n := range lengths {
					add(&accs[i], n)
				}
				haveAVX512 = saved
			}
			where := fmt.Sprintf("%s trial %d", name, trial)
			if !sameBytes(&accs[0].lanes, &accs[1].lanes) || accs[0].vec != accs[1].vec {
				t.Errorf("%s: lanes\n%+v, AVX2\n%+v", where, accs[1].lanes, accs[0].lanes)
			}
			a, b := accs[0].Sums(), accs[1].Sums()
			if !sameBytes(&a, &b) {
				t.Errorf("%s: sums %+v, AVX2 %+v", where, b, a)
			}
		}
	}
}

// sameBytes compares two values of one type byte for byte (NaNs of equal bits are equal).
func sameBytes[T any](a, b *T) bool {
	n := unsafe.Sizeof(*a)
	return string(unsafe.Slice((*byte)(unsafe.Pointer(a)), n)) == string(unsafe.Slice((*byte)(unsafe.Pointer(b)), n))
}

// TestStatsFP8AVX512Specials: the AVX-512 fp8 kernel decodes NaN and ±Inf codes through
// the table (a gather) at every position of its 16-value body and of its 8-value tail, with
// the AVX2 kernel's float64 sums bit for bit; the max lanes too for ±Inf codes (with a NaN
// code, which no save measures, max|x-y| is NaN's and the two kernels may keep it in
// different lanes).
func TestStatsFP8AVX512Specials(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(5, 55))
	const n = 24
	for _, dt := range []tensor.DType{tensor.F8E4M3, tensor.F8E5M2} {
		table, _ := fp8TableOf(dt)
		for c := range 256 {
			v := float64(table[c])
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				continue
			}
			for p := range n {
				x := make([]float32, n)
				codes := make([]uint8, n)
				for i := range codes {
					x[i] = float32(rng.NormFloat64())
					codes[i] = uint8(rng.IntN(256))&0x80 | uint8(rng.IntN(0x78))
				}
				codes[p] = uint8(c)
				var accs [2]StatsAcc
				for i, wide := range []bool{false, true} {
					saved := haveAVX512
					haveAVX512 = wide
					if err := accs[i].AddFP8(nil, x, codes, 0.5, dt, 0, 0); err != nil {
						t.Fatal(err)
					}
					haveAVX512 = saved
				}
				a, b := &accs[0].lanes, &accs[1].lanes
				same := sameBytes(&a.xx, &b.xx) && sameBytes(&a.yy, &b.yy) && sameBytes(&a.xy, &b.xy) && sameBytes(&a.noise, &b.noise)
				if !same || math.IsInf(v, 0) && !sameBytes(&a.maxAbs, &b.maxAbs) {
					t.Errorf("%v code %#x at %d: lanes\n%+v, AVX2\n%+v", dt, c, p, *b, *a)
				}
			}
		}
	}
}

// TestCastMeasured: StatsAcc.CastTo (the fused AVX-512 kernels) gives the bits of
// F32ToF16To or F32ToBF16To and the lanes and sums of AddFloats on the values widened
// back, bit for bit, run after run into one accumulator (lengths through the 16-value
// body, the 8-value tail and the scalar rest), on values that round to subnormals,
// overflow to ±Inf (fp16), ties of bfloat16 rounding, zeros of both signs and, for
// bfloat16, NaNs (quieted as F32ToBF16To quiets them; the sums are then NaN alike).
func TestCastMeasured(t *testing.T) {
	if !haveAVX512 || !haveF16C {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(16, 61))
	for _, dt := range []tensor.DType{tensor.F16, tensor.BF16} {
		var fused, apart StatsAcc
		for run, n := range []int{8, 16, 24, 1, 7, 9, 263, 4096, 4099} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 0.05)
				switch rng.IntN(12) {
				case 0:
					x[i] = float32(math.Copysign(0, -1))
				case 1:
					x[i] *= 1e-4 // half subnormals
				case 2:
					x[i] = 7e4 * float32(rng.NormFloat64()) // beyond half: ±Inf
				case 3:
					x[i] = math.Float32frombits(math.Float32bits(x[i])&^0xffff | 0x8000) // a bf16 tie
				case 4:
					if dt == tensor.BF16 && (run == 2 || run == 6) {
						x[i] = math.Float32frombits(0x7f800001) // a signalling NaN
					}
				}
			}
			got, want := make([]uint16, n), make([]uint16, n)
			y := make([]float32, n)
			if err := fused.CastTo(got, x, dt); err != nil {
				t.Fatal(err)
			}
			var err error
			if dt == tensor.F16 {
				err = errors.Join(F32ToF16To(want, x), F16ToF32To(y, want))
			} else {
				err = errors.Join(F32ToBF16To(want, x), BF16ToF32To(y, want))
			}
			if err != nil {
				t.Fatal(err)
			}
			apart.AddFloats(nil, x, y, 0, 0)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%v run %d: bits differ", dt, run)
			}
		}
		a, b := &fused.lanes, &apart.lanes
		if !sameBytes(&a.xx, &b.xx) || !sameBytes(&a.yy, &b.yy) || !sameBytes(&a.xy, &b.xy) || !sameBytes(&a.noise, &b.noise) || fused.vec != apart.vec {
			t.Errorf("%v: lanes\n%+v, apart\n%+v", dt, *a, *b)
		}
		if dt == tensor.F16 && !sameBytes(a, b) {
			t.Errorf("%v: max lanes %v, apart %v", dt, a.maxAbs, b.maxAbs)
		}
	}
}
