package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestAddCodesMatchesReference checks the statistics kernels against the reference loop
// (ErrorSums.Add on the dequantized values, and the float32 bin formula) on lengths that
// exercise the vector body and the tails. Counts and max|x-y| must be equal. The sums may
// differ by float64 summation order only: reordering n terms of one sign moves a sum by at
// most n·2⁻⁵³ of the sum of their magnitudes, so the tolerance is n·2⁻⁵² times Σ|term|
// (Σxy is compared against Σ|xy|, its terms having either sign).
func TestAddCodesMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const bins = 64
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1000, 4099} {
		x := make([]float32, n)
		codes := make([]int8, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.05)
			codes[i] = int8(rng.IntN(256) - 128)
		}
		lo, hi := float32(-1), float32(1)
		if n > 0 {
			lo, hi = slices.Min(x), slices.Max(x)
		}
		var inv float32 // 0 when every value is equal, as report.Binning
		if hi > lo {
			inv = float32(float64(bins) / float64(hi-lo))
		}
		scale, zp := float32(0.0123), int32(3)
		y := make([]float32, n)
		dequantizeRow(y, codes, scale, zp)

		var want ErrorSums
		want.Add(x, y)
		wantCounts := make([]int64, bins+1)
		var absXY float64
		for i, v := range x {
			wantCounts[int((v-lo)*inv)]++
			absXY += math.Abs(float64(v) * float64(y[i]))
		}
		for _, vector := range []bool{false, true} {
			saved := haveAVX2
			haveAVX2 = haveAVX2 && vector
			var accC, accF StatsAcc
			counts, countsF := make([]int64, bins+1), make([]int64, bins+1)
			accC.AddCodes(counts, x, codes, scale, zp, lo, inv)
			accF.AddFloats(countsF, x, y, lo, inv)
			got, gotF := accC.Sums(), accF.Sums()
			haveAVX2 = saved
			tol := float64(n) * 0x1p-52
			for _, g := range []ErrorSums{got, gotF} {
				if g.n != want.n || g.maxAbs != want.maxAbs ||
					math.Abs(g.xx-want.xx) > tol*want.xx || math.Abs(g.yy-want.yy) > tol*want.yy ||
					math.Abs(g.noise-want.noise) > tol*want.noise || math.Abs(g.xy-want.xy) > tol*absXY {
					t.Errorf("n=%d vector=%v: sums %+v, want %+v", n, vector, g, want)
				}
			}
			if !slices.Equal(counts, wantCounts) || !slices.Equal(countsF, wantCounts) {
				t.Errorf("n=%d vector=%v: counts %v / %v, want %v", n, vector, counts, countsF, wantCounts)
			}
		}
	}
}

func BenchmarkAddCodes(b *testing.B) {
	n := 1 << 16
	x := make([]float32, n)
	codes := make([]int8, n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))) * 0.05
		codes[i] = int8(i)
	}
	counts := make([]int64, 65)
	b.SetBytes(int64(5 * n))
	for b.Loop() {
		var s StatsAcc
		s.AddCodes(counts, x, codes, 0.001, 0, -0.05, 64/0.1)
	}
}

// TestDivClampMatchesLoop compares the vector scaling of fp8 quantization with its loop,
// bit for bit, on values that hit both clamps, zeros of either sign and subnormals.
func TestDivClampMatchesLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 3, 8, 17, 1000} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(rng.NormFloat64() * 100)
			switch i % 7 {
			case 1:
				src[i] = float32(math.Copysign(0, -1))
			case 2:
				src[i] = 1e-40
			}
		}
		const s, lo, hi = 0.173, -448, 448
		got := make([]float32, n)
		DivClampTo(got, src, s, lo, hi)
		for i, v := range src {
			if want := min(max(v/s, lo), hi); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: element %d (%v): %v, want %v", n, i, v, got[i], want)
			}
		}
	}
}

// TestStatsAccRuns adds runs of different scales (a row's groups) through one StatsAcc and
// compares with the reference loop over the whole, as TestAddCodesMatchesReference does.
func TestStatsAccRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, bins = 5000, 64
	x := make([]float32, n)
	codes := make([]int8, n)
	y := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		codes[i] = int8(rng.IntN(16) - 8)
	}
	lo, hi := slices.Min(x), slices.Max(x)
	inv := float32(float64(bins) / float64(hi-lo))
	var acc StatsAcc
	counts := make([]int64, bins+1)
	for a := 0; a < n; {
		z := min(n, a+1+rng.IntN(150))
		scale, zp := float32(rng.Float64()+0.01), int32(rng.IntN(5)-2)
		dequantizeRow(y[a:z], codes[a:z], scale, zp)
		acc.AddCodes(counts, x[a:z], codes[a:z], scale, zp, lo, inv)
		a = z
	}
	var want ErrorSums
	want.Add(x, y)
	wantCounts := make([]int64, bins+1)
	for _, v := range x {
		wantCounts[int((v-lo)*inv)]++
	}
	got := acc.Sums()
	tol := float64(n) * 0x1p-52
	if got.n != want.n || got.maxAbs != want.maxAbs || math.Abs(got.xx-want.xx) > tol*want.xx ||
		math.Abs(got.yy-want.yy) > tol*want.yy || math.Abs(got.noise-want.noise) > tol*want.noise {
		t.Errorf("sums %+v, want %+v", got, want)
	}
	if !slices.Equal(counts, wantCounts) {
		t.Errorf("counts %v, want %v", counts, wantCounts)
	}
}

// TestAddFP8MatchesAddFloats checks that AddFP8 gives AddFloats' sums and counts bit for
// bit on the values DequantizeFP8To decodes, vector kernel and pure Go, for both fp8
// types: every finite code (subnormals and zeros of both signs included) at every
// position of an 8-lane vector, with scales that are normal, subnormal, huge (products
// overflowing to ±Inf) and ties of rounding, over runs of many lengths added to one
// accumulator (the tails go through the scalar loop, as AddFloats' do); then every NaN
// and ±Inf code alone at every lane of a run of finite codes (one special makes the sums
// NaN or Inf, so each has its own accumulator).
func TestAddFP8MatchesAddFloats(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 5))
	scales := []float32{1, 0.0123, 1.5, 0x1p-140, 3e38, float32(1) / 3, 0x1.000002p0}
	lengths := []int{0, 1, 7, 8, 9, 15, 16, 31, 256, 257, 263, 1000, 4099}
	for _, dt := range []tensor.DType{tensor.F8E4M3, tensor.F8E5M2} {
		table, _ := fp8TableOf(dt)
		var finite, special []uint8
		for c := range 256 {
			if v := float64(table[c]); math.IsNaN(v) || math.IsInf(v, 0) {
				special = append(special, uint8(c))
			} else {
				finite = append(finite, uint8(c))
			}
		}
		for _, vector := range []bool{false, true} {
			saved := haveAVX2
			haveAVX2 = haveAVX2 && vector
			for si, scale := range scales {
				var w, g fp8Pair
				off := 0
				for run, n := range lengths {
					codes := make([]uint8, n)
					for i := range codes {
						codes[i] = finite[(i+off+run)%len(finite)] // every code at every lane
					}
					off += n
					w.add(t, g.add(t, fp8RunValues(rng, n), codes, scale, dt, false), codes, scale, dt, true)
				}
				w.check(t, &g, fmt.Sprintf("%v vector=%v scale %d", dt, vector, si))
			}
			for _, c := range special {
				for _, n := range []int{8, 9, 16} {
					for p := range n {
						codes := make([]uint8, n)
						for i := range codes {
							codes[i] = finite[rng.IntN(len(finite))]
						}
						codes[p] = c
						var w, g fp8Pair
						w.add(t, g.add(t, fp8RunValues(rng, n), codes, 0.5, dt, false), codes, 0.5, dt, true)
						w.check(t, &g, fmt.Sprintf("%v vector=%v code %#x at %d of %d", dt, vector, c, p, n))
					}
				}
			}
			haveAVX2 = saved
		}
	}
	var acc StatsAcc
	if err := acc.AddFP8(nil, nil, nil, 1, tensor.F32, 0, 0); err == nil {
		t.Error("AddFP8 took F32 codes")
	}
}

// fp8RunValues are n values in (-8, 8), a few of them subnormal.
func fp8RunValues(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = min(max(float32(rng.NormFloat64()), -7.9), 7.9)
		if rng.IntN(8) == 0 {
			x[i] = float32(rng.NormFloat64() * 0x1p-130)
		}
	}
	return x
}

// fp8Pair is one accumulator and its histogram (bins of 0.25 over [-8, 8)).
type fp8Pair struct {
	acc    StatsAcc
	counts [65]int64
}

// add measures x and codes with AddFloats on DequantizeFP8To's values (floats) or with
// AddFP8, and returns x.
func (p *fp8Pair) add(t *testing.T, x []float32, codes []uint8, scale float32, dt tensor.DType, floats bool) []float32 {
	t.Helper()
	if !floats {
		if err := p.acc.AddFP8(p.counts[:], x, codes, scale, dt, -8, 4); err != nil {
			t.Fatal(err)
		}
		return x
	}
	y := make([]float32, len(x))
	if err := DequantizeFP8To(y, codes, scale, dt); err != nil {
		t.Fatal(err)
	}
	p.acc.AddFloats(p.counts[:], x, y, -8, 4)
	return x
}

// check reports a difference in any bit of the sums or in the counts (p is AddFloats').
func (p *fp8Pair) check(t *testing.T, g *fp8Pair, what string) {
	t.Helper()
	w, s := p.acc.Sums(), g.acc.Sums()
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	if w.n != s.n || !same(w.xx, s.xx) || !same(w.yy, s.yy) || !same(w.xy, s.xy) ||
		!same(w.noise, s.noise) || !same(w.maxAbs, s.maxAbs) || p.counts != g.counts {
		t.Errorf("%s: AddFP8 %+v, AddFloats %+v", what, s, w)
	}
}

// TestDivClampFP8MatchesTwoSteps checks DivClampFP8To against DivClampTo followed by
// F32ToF8E4M3To / F32ToF8E5M2To in pure Go, code for code, vector (the AVX-512 kernel
// where it runs; GODEBUG=cpu.avx512f=off for the AVX2 one) and pure Go, on lengths that
// exercise the 32-wide kernel and the tails, with values that saturate at both clamps,
// zeros of either sign, subnormals, ties of the fp8 rounding and overflow of x/s to ±Inf.
func TestDivClampFP8MatchesTwoSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []tensor.DType{tensor.F8E4M3, tensor.F8E5M2} {
		fmax := float32(448)
		if dt == tensor.F8E5M2 {
			fmax = 57344
		}
		for _, s := range []float32{1, 0.0123, 0x1p-126, 0x1p-140, 3e38} {
			for _, n := range []int{0, 1, 31, 32, 33, 100, 4099} {
				src := make([]float32, n)
				for i := range src {
					switch i % 6 {
					case 0:
						src[i] = float32(rng.NormFloat64()) * s * fmax / 2
					case 1:
						src[i] = float32(math.Copysign(0, -1))
					case 2:
						src[i] = float32(rng.NormFloat64() * 1e-38)
					case 3: // a tie of e4m3/e5m2 rounding, before scaling
						src[i] = (1 + 1.0/16 + float32(rng.IntN(2))/8) * s
					case 4:
						src[i] = float32(rng.NormFloat64() * 3e38)
					default:
						src[i] = float32(rng.NormFloat64() * 1e5)
					}
				}
				// The two steps in pure Go, the reference for the fused kernels
				// (AVX-512 where it runs, else AVX2) and the pure Go loop.
				saved := haveAVX2
				haveAVX2 = false
				buf, want := make([]float32, n), make([]uint8, n)
				DivClampTo(buf, src, s, -fmax, fmax)
				encode := F32ToF8E4M3To
				if dt == tensor.F8E5M2 {
					encode = F32ToF8E5M2To
				}
				err := encode(want, buf)
				haveAVX2 = saved
				if err != nil {
					t.Fatal(err)
				}
				for _, vector := range []bool{false, true} {
					got := make([]uint8, n)
					haveAVX2 = saved && vector
					err := DivClampFP8To(got, src, s, -fmax, fmax, dt)
					haveAVX2 = saved
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%v s=%g n=%d vector=%v: codes differ", dt, s, n, vector)
					}
				}
			}
		}
	}
	if err := DivClampFP8To(nil, nil, 1, -1, 1, tensor.F16); err == nil {
		t.Error("DivClampFP8To took F16")
	}
}

// TestStatsWithoutCounts: with counts nil the statistics kernels count nothing and give the
// sums they give with a histogram, bit for bit (AddCodes, AddFloats, AddFP8 and the group
// kernel, vector and pure Go), on runs of many lengths into one accumulator.
func TestStatsWithoutCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n, bins = 3001, 64
	x := make([]float32, n)
	codes := make([]int8, n)
	fp8 := make([]uint8, n)
	y := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		codes[i] = int8(rng.IntN(256) - 128)
		fp8[i] = uint8(rng.IntN(0x7e))
		y[i] = float32(rng.NormFloat64())
	}
	lo, hi := slices.Min(x), slices.Max(x)
	inv := float32(float64(bins) / float64(hi-lo))
	scale := []float32{0.011, 0.013, 0.017}
	zp := []int32{1, -2, 0}
	// measure adds x in runs, each kernel in turn, with or without counts.
	measure := func(counts []int64) ErrorSums {
		var acc StatsAcc
		for a, r := 0, 0; a < n; r++ {
			z := min(n, a+1+rng.IntN(200))
			switch r % 4 {
			case 0:
				acc.AddCodes(counts, x[a:z], codes[a:z], scale[0], zp[0], lo, inv)
			case 1:
				acc.AddFloats(counts, x[a:z], y[a:z], lo, inv)
			case 2:
				if err := acc.AddFP8(counts, x[a:z], fp8[a:z], scale[1], tensor.F8E4M3, lo, inv); err != nil {
					t.Fatal(err)
				}
			case 3:
				g := (z - a) / 16
				acc.addGroups(counts, x[a:a+16*g], codes[a:a+16*g], 16, slices.Repeat(scale, g)[:g], slices.Repeat(zp, g)[:g], 3, lo, inv)
				z = a + 16*g
			}
			a = z
		}
		return acc.Sums()
	}
	for _, vector := range []bool{true, false} {
		saved := haveAVX2
		haveAVX2 = haveAVX2 && vector
		seed := rng.Uint64()
		rng = rand.New(rand.NewPCG(seed, 1))
		counts := make([]int64, bins+1)
		want := measure(counts)
		rng = rand.New(rand.NewPCG(seed, 1))
		got := measure(nil)
		haveAVX2 = saved
		var total int64
		for _, c := range counts {
			total += c
		}
		if got != want || total != int64(want.n) {
			t.Errorf("vector=%v: sums without counts %+v, with counts %+v (%d counted of %d)", vector, got, want, total, want.n)
		}
	}
}

// TestCountBins: CountBins counts as AddFloats does, vector kernel and pure Go, on lengths
// that exercise the vector body and the tails.
func TestCountBins(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const bins = 64
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 1000, 4099} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		lo, hi := float32(-5), float32(5)
		inv := float32(float64(bins) / float64(hi-lo))
		for _, vector := range []bool{true, false} {
			saved := haveAVX2
			haveAVX2 = haveAVX2 && vector
			want, got := make([]int64, bins+1), make([]int64, bins+1)
			var acc StatsAcc
			acc.AddFloats(want, x, x, lo, inv)
			CountBins(got, x, lo, inv)
			haveAVX2 = saved
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d vector=%v: counts %v, AddFloats %v", n, vector, got, want)
			}
		}
	}
}

// TestCastRange: CastRangeTo gives CastTo's bits and sums, bit for bit, and MinMaxOf(x)'s
// range bit for bit (the sign of a zero at an end included) or its error, on lengths
// through the kernels' 16-value body, their 8-value tail and the scalar rest, on values
// whose ends are of either sign, zeros of both signs (at the ends too), ±Inf and NaN
// anywhere (the first, the last, the body, the rest). With no AVX-512 (or purego) it checks
// the scalar path the same way.
func TestCastRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 21))
	negZero := float32(math.Copysign(0, -1))
	specials := []float32{negZero, 0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	cases, kernel := 0, 0
	for _, dt := range []tensor.DType{tensor.F16, tensor.BF16} {
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 40, 263, 4096, 4099} {
			for kind := range 6 + len(specials) {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 0.05)
					switch kind {
					case 1: // zeros, never negative: the low end a zero
						x[i] = max(x[i], 0)
						if rng.IntN(2) == 0 {
							x[i] = negZero
						}
					case 2: // never positive: the high end a zero
						x[i] = min(x[i], negZero)
						if rng.IntN(3) == 0 {
							x[i] = 0
						}
					case 3: // all zeros of both signs
						x[i] = float32(math.Copysign(0, float64(x[i])))
					case 4: // all positive
						x[i] = float32(math.Abs(float64(x[i]))) + 1e-3
					}
				}
				if kind >= 6 && n > 0 {
					x[rng.IntN(n)] = specials[kind-6]
				}
				if kind == 5 && n > 0 {
					x[0], x[n-1] = float32(math.NaN()), float32(math.Inf(1))
				}
				var ranged, plain StatsAcc
				got, want := make([]uint16, n), make([]uint16, n)
				lo, hi, err := ranged.CastRangeTo(got, x, dt)
				wlo, whi, werr := MinMaxOf(x)
				if fmt.Sprint(err) != fmt.Sprint(werr) {
					t.Fatalf("%v n=%d kind %d: error %v, MinMaxOf's %v", dt, n, kind, err, werr)
				}
				if math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi) {
					t.Fatalf("%v n=%d kind %d: range %v..%v (%#x..%#x), MinMaxOf's %v..%v (%#x..%#x)", dt, n, kind,
						lo, hi, math.Float32bits(lo), math.Float32bits(hi), wlo, whi, math.Float32bits(wlo), math.Float32bits(whi))
				}
				if werr != nil {
					continue
				}
				if err := plain.CastTo(want, x, dt); err != nil {
					t.Fatal(err)
				}
				gs, ws := ranged.Sums(), plain.Sums()
				if !slices.Equal(got, want) || fmt.Sprintf("%#v", gs) != fmt.Sprintf("%#v", ws) {
					t.Fatalf("%v n=%d kind %d: bits or sums differ from CastTo's: %+v, %+v", dt, n, kind, gs, ws)
				}
				// The kernels' own range (not only the fallback): their lanes hold the
				// range of the values their body took.
				var l statsLanes
				r := newCastRange()
				if done := castPrefix(&l, &r, want, x, dt) &^ 15; done > 0 {
					klo, khi := r.fold()
					rlo, rhi, _ := minMaxRow(x[:done])
					if klo != rlo || khi != rhi {
						t.Fatalf("%v n=%d kind %d: kernel range %v..%v, want %v..%v", dt, n, kind, klo, khi, rlo, rhi)
					}
					kernel++
				}
				cases++
			}
		}
	}
	t.Logf("%d finite cases alike, %d through the kernels' range", cases, kernel)
}
