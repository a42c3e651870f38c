package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRoundMagic checks the magic-number rounding against math.RoundToEven on every
// half-integer and its float32 neighbours in the clamped range (|y| <= 2^17), on every
// float32 in [-4, 4], and on a dense random sample up to 2^22.
func TestRoundMagic(t *testing.T) {
	check := func(y float32) {
		got := float32(float32(y+roundMagic) - roundMagic)
		want := float32(math.RoundToEven(float64(y)))
		if math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("round(%v) = %v, want %v", y, got, want)
		}
	}
	for k := -(1 << 17); k <= 1<<17; k++ {
		h := float32(k) + 0.5
		check(h)
		check(math.Nextafter32(h, float32(math.Inf(1))))
		check(math.Nextafter32(h, float32(math.Inf(-1))))
		check(float32(k))
	}
	for b := uint32(0); b <= math.Float32bits(4); b++ {
		check(math.Float32frombits(b))
		check(-math.Float32frombits(b))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1<<22; i++ {
		check(float32((r.Float64()*2 - 1) * (1 << 22)))
	}
}

// withoutAsm runs f with the assembly kernels switched off.
func withoutAsm(f func()) {
	a, h := haveAVX2, haveF16C
	haveAVX2, haveF16C = false, false
	defer func() { haveAVX2, haveF16C = a, h }()
	f()
}

// testInputs returns float32 slices that stress the kernels: ties, range edges, signed
// zeros, subnormals, huge values, and lengths that are not multiples of 32.
func testInputs(scale float32) [][]float32 {
	r := rand.New(rand.NewPCG(3, 4))
	var out [][]float32
	for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 1000, 4099} {
		x := make([]float32, n)
		for i := range x {
			switch r.IntN(6) {
			case 0:
				x[i] = (float32(r.IntN(600)-300) + 0.5) * scale // ties
			case 1:
				x[i] = float32(r.NormFloat64()) * 1e6
			case 2:
				x[i] = math.Float32frombits(r.Uint32() & 0x807fffff) // subnormal or zero
			case 3:
				x[i] = float32(r.NormFloat64()) * scale * 200
			case 4:
				x[i] = math.Float32frombits(r.Uint32() &^ 0x40000000) // any finite with exponent < 128
			default:
				x[i] = float32(r.NormFloat64())
			}
		}
		out = append(out, x)
	}
	return out
}

func TestQuantizeAsmMatchesGo(t *testing.T) {
	schemes := []Scheme{
		{QType: QInt8}, {QType: QUInt8}, {QType: Int4}, {QType: UInt4},
		{QType: QInt8, Numerics: ORT}, {QType: QUInt8, Numerics: ORT},
	}
	for _, s := range schemes {
		for _, scale := range []float32{0.00214854861, 1, 1e-30, 3.7e3, 0.1} {
			for _, zp := range []int32{0, 3, -5, 128, 255} {
				if zp < s.QType.Min || zp > s.QType.Max {
					continue
				}
				a, err := newAffine(scale, zp, s)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range testInputs(scale) {
					compareRow[int8](t, s, x, &a)
					compareRow[uint8](t, s, x, &a)
				}
			}
		}
	}
}

func compareRow[T Code](t *testing.T, s Scheme, x []float32, a *affine) {
	t.Helper()
	if checkCodeType[T](s.QType) != nil {
		return
	}
	got := make([]T, len(x))
	want := make([]T, len(x))
	okGot := quantizeRow(got, x, a)
	okWant := quantizeRowGo(want, x, a)
	if okGot != okWant || !okGot {
		t.Fatalf("finite flags %v %v", okGot, okWant)
	}
	for i := range x {
		if got[i] != want[i] {
			t.Fatalf("%v scale %v: x[%d]=%v: asm %d, Go %d", s.QType.Name, 1/a.mul, i, x[i], got[i], want[i])
		}
		// And against float64 arithmetic on the exact float32 product.
		var y float32
		if a.div {
			y = x[i] / a.mul
		} else {
			y = x[i] * a.mul
		}
		ref := math.RoundToEven(float64(y)) + float64(a.zp)
		ref = math.Min(math.Max(ref, float64(s.QType.Min)), float64(s.QType.Max))
		if float64(want[i]) != ref {
			t.Fatalf("x=%v: %d, want %v", x[i], want[i], ref)
		}
	}
}

func TestQuantizeNonFinite(t *testing.T) {
	for _, n := range []int{5, 64, 100} {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			x := make([]float32, n)
			x[n-3] = bad
			dst := make([]int8, n)
			err := QuantizeTo(dst, x, 0.1, 0, Scheme{QType: QInt8})
			var nf *NonFiniteError
			if !asNonFinite(err, &nf) || nf.Index != n-3 {
				t.Fatalf("n=%d %v: err %v", n, bad, err)
			}
			if _, _, err := MinMaxOf(x); !asNonFinite(err, &nf) || nf.Index != n-3 {
				t.Fatalf("MinMax n=%d %v: err %v", n, bad, err)
			}
		}
	}
}

func TestMinMaxAsmMatchesGo(t *testing.T) {
	for _, x := range testInputs(0.1) {
		lo, hi, ok := minMaxRow(x)
		var lo2, hi2 float32
		var ok2 bool
		withoutAsm(func() { lo2, hi2, ok2 = minMaxRow(x) })
		if lo != lo2 || hi != hi2 || ok != ok2 {
			t.Fatalf("n=%d: asm (%v %v %v) Go (%v %v %v)", len(x), lo, hi, ok, lo2, hi2, ok2)
		}
	}
	// A NaN alone in the vector part is seen.
	x := make([]float32, 64)
	x[40] = float32(math.NaN())
	if _, _, ok := minMaxRow(x); ok {
		t.Fatal("NaN not detected")
	}
}

func TestPackAsmMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{8, 32, 64, 100, 128, 4096, 4100} {
		codes := make([]int8, n)
		for i := range codes {
			codes[i] = int8(r.IntN(16) - 8)
		}
		got := make([]int32, (n+7)/8)
		want := make([]int32, len(got))
		if !packRowWords(got, codes) || !packRowWordsGo(want, codes) {
			t.Fatal("valid codes refused")
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("n=%d word %d: asm %#08x, Go %#08x", n, i, uint32(got[i]), uint32(want[i]))
			}
		}
		for _, bad := range []int8{8, -9} {
			i := r.IntN(n)
			keep := codes[i]
			codes[i] = bad
			if packRowWords(got, codes) {
				t.Fatalf("n=%d: code %d accepted", n, bad)
			}
			codes[i] = keep
		}
	}
}

// TestGroupsMinMaxMatchesRows: the one-call range of many groups equals minMaxRow's range
// of each group (±0 compare equal, as the qparams treat them), on the test inputs cut
// into groups of 32 and 128; a NaN or ±Inf makes it decline.
func TestGroupsMinMaxMatchesRows(t *testing.T) {
	for _, x := range testInputs(0.1) {
		for _, size := range []int{32, 128} {
			groups := len(x) / size
			if groups == 0 {
				continue
			}
			lo, hi := make([]float32, groups), make([]float32, groups)
			if !groupsMinMax(lo, hi, x, size) {
				if haveAVX2 {
					t.Fatalf("n=%d size %d: declined finite input", len(x), size)
				}
				continue
			}
			for g := range lo {
				l, h, _ := minMaxRow(x[g*size : (g+1)*size])
				if lo[g] != l || hi[g] != h {
					t.Fatalf("n=%d size %d group %d: (%v %v), minMaxRow (%v %v)", len(x), size, g, lo[g], hi[g], l, h)
				}
			}
		}
	}
	x := make([]float32, 256)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x[200] = bad
		if groupsMinMax(make([]float32, 2), make([]float32, 2), x, 128) {
			t.Fatalf("%v: not declined", bad)
		}
	}
}
