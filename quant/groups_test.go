package quant

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// groupsGeneric is the two-step path QuantizeGroupsTo replaces: ChooseQParams per group,
// Quantize, codes minus shift.
func groupsGeneric(x []float32, rows, cols, groupSize int, s Scheme, shift int32) ([]int8, *QParams, error) {
	t := tensor.FromF32([]int{rows, cols}, x)
	p, err := ChooseQParams(t, s, PerGroup(groupSize))
	if err != nil {
		return nil, nil, err
	}
	ct, err := Quantize(t, p)
	if err != nil {
		return nil, nil, err
	}
	codes := make([]int8, len(x))
	if s.QType.Signed {
		copy(codes, ct.I8())
	} else {
		for i, u := range ct.U8() {
			codes[i] = int8(int32(u) - shift)
		}
	}
	return codes, p, nil
}

// groupCases are random and edge weights: zeros, constant groups, denormals, one value
// per group, huge and tiny magnitudes, rows whose length is not a multiple of the group.
func groupCases(rng *rand.Rand) map[string][]float32 {
	fill := func(n int, f func(i int) float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	den := math.Float32frombits(1) // smallest denormal
	return map[string][]float32{
		"random":    fill(8*640, func(int) float32 { return float32(rng.NormFloat64()) * 0.05 }),
		"zeros":     fill(8*640, func(int) float32 { return 0 }),
		"negzero":   fill(8*640, func(int) float32 { return float32(math.Copysign(0, -1)) }),
		"constant":  fill(8*640, func(i int) float32 { return float32(i/128%5) - 2 }),
		"denormals": fill(8*640, func(i int) float32 { return den * float32(rng.Intn(64)-32) }),
		"mixed-den": fill(8*640, func(i int) float32 { return []float32{den, -den, 1e-30, 3, 0}[rng.Intn(5)] }),
		"positive":  fill(8*640, func(int) float32 { return rng.Float32() * 7 }),
		"negative":  fill(8*640, func(int) float32 { return -rng.Float32()*1e6 - 1 }),
		"huge":      fill(8*640, func(int) float32 { return float32(rng.NormFloat64()) * 1e37 }),
		"halves":    fill(8*640, func(i int) float32 { return float32(i%17-8) * 0.5 }),
	}
}

// TestQuantizeGroupsToMatchesGeneric: every code, scale and zero point of the fused kernel,
// of its two halves (GroupQParamsRangeTo then QuantizeGroupsWithTo) and of its scalar reference
// loop equal the two-step path's, for int4/uint4/int8/uint8,
// symmetric and affine, torch and ORT numerics, on random and edge data, with rows of 640
// (5 groups of 128), 200 (a short last group) and 37 (one group shorter than 128).
func TestQuantizeGroupsToMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	cases := 0
	for name, x := range groupCases(rng) {
		for _, q := range []QType{Int4, UInt4, QInt8, QUInt8} {
			for _, sym := range []bool{true, false} {
				for _, num := range []Numerics{Torch, ORT} {
					for _, shape := range [][3]int{{8, 640, 128}, {16, 320, 128}, {len(x) / 200, 200, 128}, {len(x) / 37 / 2, 37, 128}, {8, 640, 32}} {
						rows, cols, gs := shape[0], shape[1], shape[2]
						xs := x[:rows*cols]
						s := Scheme{QType: q, Symmetric: sym, Numerics: num}
						shift := int32(0)
						if !q.Signed {
							shift = (q.Max + 1) / 2
						}
						label := fmt.Sprintf("%s/%s/sym=%v/num=%v/%dx%d/g%d", name, q.Name, sym, num, rows, cols, gs)
						want, p, err := groupsGeneric(xs, rows, cols, gs, s, shift)
						if err != nil {
							t.Fatalf("%s: generic: %v", label, err)
						}
						n := len(p.Scale)
						for k, run := range map[string]func([]int8, []float32, []int32) error{
							"fused": func(c []int8, sc []float32, z []int32) error {
								return QuantizeGroupsTo(c, sc, z, xs, cols, gs, s, shift, nil)
							},
							"reference": func(c []int8, sc []float32, z []int32) error {
								return quantizeGroupsRef(c, sc, z, xs, cols, gs, s, shift)
							},
							"halves": func(c []int8, sc []float32, z []int32) error {
								if _, _, err := GroupQParamsRangeTo(sc, z, xs, cols, gs, s, nil); err != nil {
									return err
								}
								return QuantizeGroupsWithTo(c, xs, sc, z, cols, gs, s, shift, nil)
							},
							"halves with range": func(c []int8, sc []float32, z []int32) error {
								lo, hi, err := GroupQParamsRangeTo(sc, z, xs, cols, gs, s, nil)
								if err != nil {
									return err
								}
								wlo, whi, _ := MinMaxOf(xs)
								if math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi) {
									return fmt.Errorf("range [%g, %g] (bits %#x %#x), MinMaxOf [%g, %g]", lo, hi, math.Float32bits(lo), math.Float32bits(hi), wlo, whi)
								}
								return QuantizeGroupsWithTo(c, xs, sc, z, cols, gs, s, shift, nil)
							},
						} {
							codes, scale, zp := make([]int8, len(xs)), make([]float32, n), make([]int32, n)
							if err := run(codes, scale, zp); err != nil {
								t.Fatalf("%s %s: %v", label, k, err)
							}
							for i := range scale {
								if math.Float32bits(scale[i]) != math.Float32bits(p.Scale[i]) || zp[i] != p.ZeroPoint[i] {
									t.Fatalf("%s %s: group %d: scale %g zp %d, generic %g %d", label, k, i, scale[i], zp[i], p.Scale[i], p.ZeroPoint[i])
								}
							}
							for i := range codes {
								if codes[i] != want[i] {
									t.Fatalf("%s %s: code %d (x=%g) is %d, generic %d", label, k, i, xs[i], codes[i], want[i])
								}
							}
							cases++
						}
					}
				}
			}
		}
	}
	t.Logf("%d bit-exact cases", cases)
}

// TestQuantizeGroupsToErrors: the first NaN or ±Inf is reported at its index even when a
// fixScale refuses an earlier group; fixScale's error otherwise; fixScale's scale is used.
func TestQuantizeGroupsToErrors(t *testing.T) {
	s := Scheme{QType: Int4, Symmetric: true}
	x := make([]float32, 4*256)
	for i := range x {
		x[i] = float32(i%9) - 4
	}
	codes, scale, zp := make([]int8, len(x)), make([]float32, 8), make([]int32, 8)
	refuse := func(i int, s float32) (float32, error) { return 0, fmt.Errorf("scale %g of block %d refused", s, i) }
	x[700] = float32(math.NaN())
	err := QuantizeGroupsTo(codes, scale, zp, x, 256, 128, s, 0, refuse)
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Index != 700 {
		t.Fatalf("NaN at 700: got %v", err)
	}
	x[700] = float32(math.Inf(-1))
	if err := QuantizeGroupsTo(codes, scale, zp, x, 256, 128, s, 0, nil); !errors.As(err, &nf) || nf.Index != 700 {
		t.Fatalf("-Inf at 700: got %v", err)
	}
	if _, _, err := GroupQParamsRangeTo(scale, zp, x, 256, 128, s, refuse); !errors.As(err, &nf) || nf.Index != 700 {
		t.Fatalf("GroupQParamsRangeTo, -Inf at 700: got %v", err)
	}
	if _, _, err := GroupQParamsRangeTo(scale, zp, x, 256, 128, s, nil); !errors.As(err, &nf) || nf.Index != 700 {
		t.Fatalf("GroupQParamsRangeTo (torchRows), -Inf at 700: got %v", err)
	}
	if err := QuantizeGroupsWithTo(codes, x, scale, zp, 256, 128, s, 0, nil); !errors.As(err, &nf) || nf.Index != 700 {
		t.Fatalf("QuantizeGroupsWithTo, -Inf at 700: got %v", err)
	}
	x[700] = 0
	if err := QuantizeGroupsTo(codes, scale, zp, x, 256, 128, s, 0, refuse); err == nil || err.Error() != "scale 0.53333336 of block 0 refused" {
		t.Fatalf("refused scale: got %v", err)
	}
	if _, _, err := GroupQParamsRangeTo(scale, zp, x, 256, 128, s, refuse); err == nil || err.Error() != "scale 0.53333336 of block 0 refused" {
		t.Fatalf("GroupQParamsRangeTo, refused scale: got %v", err)
	}
	double := func(_ int, s float32) (float32, error) { return 2 * s, nil }
	if err := QuantizeGroupsTo(codes, scale, zp, x, 256, 128, s, 0, double); err != nil {
		t.Fatal(err)
	}
	want := make([]int8, 128)
	if err := QuantizeTo(want, x[:128], scale[0], 0, s); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("code %d with the fixed scale: %d, want %d", i, codes[i], want[i])
		}
	}
	if err := QuantizeGroupsTo(codes, scale, zp, x, 250, 128, s, 0, nil); err == nil {
		t.Fatal("rows that do not divide the input: no error")
	}
	if err := QuantizeGroupsTo(codes, scale, zp, x, 256, 128, Scheme{QType: QUInt8}, 0, nil); err == nil {
		t.Fatal("uint8 codes unshifted do not fit int8: no error")
	}
}

// quantizeGroupsRef is the reference loop of QuantizeGroupsTo (no fixScale), scalar and
// written from the definitions: range, torch's or ORT's qparams, QuantizeTo's arithmetic.
func quantizeGroupsRef(codes []int8, scale []float32, zp []int32, x []float32, cols, groupSize int, s Scheme, shift int32) error {
	groups := (cols + groupSize - 1) / groupSize
	for r := 0; r < len(x)/cols; r++ {
		for g := 0; g < groups; g++ {
			a, z := r*cols+g*groupSize, r*cols+min((g+1)*groupSize, cols)
			k := r*groups + g
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for _, v := range x[a:z] {
				if v-v != 0 {
					return findNonFinite(x, 0)
				}
				lo, hi = min(lo, v), max(hi, v)
			}
			scale[k], zp[k] = qparamsOne(lo, hi, s)
			af, err := newAffine(scale[k], zp[k], s)
			if err != nil {
				return err
			}
			af.zp -= float32(shift)
			quantizeRowGo(codes[a:z], x[a:z], &af)
		}
	}
	return nil
}

// TestQuantizeGroupsMeasured: QuantizeGroupsWithTo with GroupStats (with the AVX2 kernels,
// and with haveAVX2 off the reference loops) writes QuantizeGroupsTo's codes, counts the
// histogram of the float32 bin formula exactly, and gives, bit for bit, the sums of a
// StatsAcc per block that AddCodes each run of one scale; and those sums are the float64
// reference loop's (ErrorSums.Add on the dequantized values) up to summation order, with
// TestAddCodesMatchesReference's tolerance. Rows of 300 with groups of 128 and blocks of
// 1000 put block boundaries inside groups; rows of 512 make runs of whole groups across rows.
func TestQuantizeGroupsMeasured(t *testing.T) {
	// Blocks of 1000 cut groups; blocks of 1024 (with rows of 512) and no histogram take
	// the fused kernel of quantizeMeasureRow where there is one.
	// Groups of 40 (rows of 520, blocks of two rows) end in a run of 8 in the fused
	// kernel, which goes 16 values at a time.
	for _, c := range [][3]int{{300, 128, 1000}, {300, 128, 1024}, {512, 128, 1000}, {512, 128, 1024}, {520, 40, 1040}} {
		for _, hist := range []bool{true, false} {
			testGroupsMeasured(t, c[0], c[1], c[2], hist)
		}
	}
}

func testGroupsMeasured(t *testing.T, cols, gs, block int, hist bool) {
	rng := rand.New(rand.NewSource(7))
	const rows, bins = 20, 64
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 0.05
	}
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	inv := float32(float64(bins) / float64(hi-lo))
	for _, q := range []QType{Int4, UInt4, QInt8, QUInt8} {
		for _, num := range []Numerics{Torch, ORT} {
			s := Scheme{QType: q, Symmetric: q.Signed, Numerics: num}
			shift := int32(0)
			if !q.Signed {
				shift = (q.Max + 1) / 2
			}
			groups := rows * ((cols + gs - 1) / gs)
			want, scale, zp := make([]int8, len(x)), make([]float32, groups), make([]int32, groups)
			if err := QuantizeGroupsTo(want, scale, zp, x, cols, gs, s, shift, nil); err != nil {
				t.Fatal(err)
			}
			for _, vector := range []bool{true, false} {
				saved := haveAVX2
				haveAVX2 = haveAVX2 && vector
				// The reference: a StatsAcc per block, AddCodes on each run of one scale.
				wantSums := make([]ErrorSums, (len(x)+block-1)/block)
				wantCounts := make([]int64, bins+1)
				if !hist {
					wantCounts = nil
				}
				for b := range wantSums {
					var acc StatsAcc
					for a := b * block; a < min((b+1)*block, len(x)); {
						k := a/cols*((cols+gs-1)/gs) + a%cols/gs
						e := min((b+1)*block, len(x), a/cols*cols+min(cols, (a%cols/gs+1)*gs))
						acc.AddCodes(wantCounts, x[a:e], want[a:e], scale[k], zp[k]-shift, lo, inv)
						a = e
					}
					wantSums[b] = acc.Sums()
				}
				codes := make([]int8, len(x))
				m := &GroupStats{Counts: make([]int64, bins+1), Lo: lo, Inv: inv, Block: block, Sums: make([]ErrorSums, len(wantSums))}
				if !hist {
					m.Counts = nil
				}
				err := QuantizeGroupsWithTo(codes, x, scale, zp, cols, gs, s, shift, m)
				haveAVX2 = saved
				label := fmt.Sprintf("cols %d block %d hist=%v %s num=%v vector=%v", cols, block, hist, q.Name, num, vector)
				if err != nil {
					t.Fatalf("%s: %v", label, err)
				}
				if string(bytesOf(codes)) != string(bytesOf(want)) || fmt.Sprint(m.Counts) != fmt.Sprint(wantCounts) {
					t.Fatalf("%s: codes or counts differ from QuantizeGroupsTo and AddCodes", label)
				}
				for b := range wantSums {
					if m.Sums[b] != wantSums[b] {
						t.Fatalf("%s: block %d sums %+v, AddCodes %+v", label, b, m.Sums[b], wantSums[b])
					}
				}
				var got, ref ErrorSums
				for _, p := range m.Sums {
					got.Merge(p)
				}
				y := make([]float32, len(x))
				var absXY float64
				for i := range x {
					k := i/cols*((cols+gs-1)/gs) + i%cols/gs
					y[i] = float32(int32(codes[i])-(zp[k]-shift)) * scale[k]
					absXY += math.Abs(float64(x[i]) * float64(y[i]))
				}
				ref.Add(x, y)
				tol := float64(len(x)) * 0x1p-52
				if got.n != ref.n || got.maxAbs != ref.maxAbs || math.Abs(got.xx-ref.xx) > tol*ref.xx ||
					math.Abs(got.yy-ref.yy) > tol*ref.yy || math.Abs(got.noise-ref.noise) > tol*ref.noise || math.Abs(got.xy-ref.xy) > tol*absXY {
					t.Fatalf("%s: sums %+v, reference loop %+v", label, got, ref)
				}
				if hist {
					m.Counts = m.Counts[:1]
				}
				if err := QuantizeGroupsWithTo(codes, x, scale, zp, cols, gs, s, shift, &GroupStats{Counts: m.Counts, Block: block}); err == nil {
					t.Fatalf("%s: no error for missing sums", label)
				}
			}
		}
	}
}

func bytesOf(c []int8) []byte {
	b := make([]byte, len(c))
	for i, v := range c {
		b[i] = byte(v)
	}
	return b
}

// TestChooseQParamsRange: ChooseQParamsRange gives ChooseQParams' qparams and MinMaxOf's
// range bit for bit (the sign of a zero at an end included), per tensor, per channel
// (short rows and long) and per group, on the edge cases; and the first NaN.
func TestChooseQParamsRange(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	s := Scheme{QType: QInt8, Symmetric: true}
	for name, x := range groupCases(rng) {
		for _, shape := range [][]int{{len(x)}, {160, 32}, {640, 8}, {8, 640}} {
			for _, g := range []Granularity{PerTensor(), PerChannel(0), PerGroup(32)} {
				if len(shape) == 1 && g.PerChannel {
					continue
				}
				tt := tensor.FromF32(shape, x)
				want, werr := ChooseQParams(tt, s, g)
				p, lo, hi, err := ChooseQParamsRange(tt, s, g)
				wlo, whi, _ := MinMaxOf(x)
				if werr != nil || err != nil || fmt.Sprint(p) != fmt.Sprint(want) ||
					math.Float32bits(lo) != math.Float32bits(wlo) || math.Float32bits(hi) != math.Float32bits(whi) {
					t.Fatalf("%s %v %+v: %v [%g, %g] (%v), want %v [%g, %g] (%v)", name, shape, g, p, lo, hi, err, want, wlo, whi, werr)
				}
			}
		}
	}
	x := make([]float32, 64)
	x[41] = float32(math.NaN())
	var nf *NonFiniteError
	if _, _, _, err := ChooseQParamsRange(tensor.FromF32([]int{8, 8}, x), s, PerChannel(0)); !errors.As(err, &nf) || nf.Index != 41 {
		t.Errorf("NaN at 41: %v", err)
	}
}
