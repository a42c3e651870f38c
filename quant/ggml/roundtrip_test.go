package ggml

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/quant"
)

// maxRelErr bounds the reconstruction error of each type on gaussian rows, relative to
// the row's largest magnitude: loose bounds that any working block format meets.
var maxRelErr = map[Type]float64{
	F32: 0, F16: 1e-3, BF16: 8e-3, Q8_0: 0.01, Q4_0: 0.1, Q4_1: 0.1, Q5_0: 0.05, Q5_1: 0.05,
	Q2_K: 0.5, Q3_K: 0.25, Q4_K: 0.12, Q5_K: 0.06, Q6_K: 0.03,
}

func gaussianRows(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.02)
	}
	return x
}

func TestRoundTripBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 3, 512
	x := gaussianRows(rng, rows*cols)
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(rng.ExpFloat64())
	}
	var amax float64
	for _, v := range x {
		amax = math.Max(amax, math.Abs(float64(v)))
	}
	for _, typ := range supported {
		for _, imatrix := range [][]float32{nil, im} {
			rs, err := RowSize(typ, cols)
			if err != nil {
				t.Fatal(err)
			}
			q := make([]byte, rows*rs)
			if err := QuantizeRows(typ, q, x, rows, cols, imatrix); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			y := make([]float32, rows*cols)
			if err := DequantizeRows(typ, y, q, rows, cols); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			var worst float64
			for i := range x {
				worst = math.Max(worst, math.Abs(float64(x[i]-y[i]))/amax)
			}
			if worst > maxRelErr[typ] {
				t.Errorf("%s (imatrix %v): worst error %.4g of amax, want <= %g", typ, imatrix != nil, worst, maxRelErr[typ])
			}
		}
	}
}

func TestTypeTable(t *testing.T) {
	for _, c := range []struct {
		t           Type
		name        string
		block, size int
	}{{F32, "F32", 1, 4}, {F16, "F16", 1, 2}, {BF16, "BF16", 1, 2}, {Q8_0, "Q8_0", 32, 34},
		{Q4_0, "Q4_0", 32, 18}, {Q4_1, "Q4_1", 32, 20}, {Q5_0, "Q5_0", 32, 22}, {Q5_1, "Q5_1", 32, 24},
		{Q2_K, "Q2_K", 256, 84}, {Q3_K, "Q3_K", 256, 110}, {Q4_K, "Q4_K", 256, 144},
		{Q5_K, "Q5_K", 256, 176}, {Q6_K, "Q6_K", 256, 210}} {
		if c.t.String() != c.name || c.t.BlockSize() != c.block || c.t.TypeSize() != c.size || !c.t.Supported() {
			t.Errorf("%d: %s %d %d %v, want %s %d %d", c.t, c.t, c.t.BlockSize(), c.t.TypeSize(), c.t.Supported(), c.name, c.block, c.size)
		}
		got, err := ParseType(strings.ToLower(c.name))
		if err != nil || got != c.t {
			t.Errorf("ParseType(%q) = %v, %v", strings.ToLower(c.name), got, err)
		}
	}
	if _, err := ParseType("Q4_K_M"); err == nil || !strings.Contains(err.Error(), "Q4_K, Q5_K") {
		t.Errorf("ParseType(Q4_K_M) error %v, want the list of types", err)
	}
	if Type(4).String() != "ggml_type(4)" || IQ2_XS.Supported() {
		t.Error("unknown/unsupported types misreported")
	}
}

func TestQuantizeRowsErrors(t *testing.T) {
	x := make([]float32, 64)
	q := make([]byte, 68)
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"cols", QuantizeRows(Q4_K, make([]byte, 144), x, 1, 64, nil), "Q4_K rows need a positive multiple of 256 columns, got 64"},
		{"dst", QuantizeRows(Q8_0, q[:60], x, 2, 32, nil), "60 bytes of Q8_0 for 2 rows of 32 columns, want 68"},
		{"src", QuantizeRows(Q8_0, q, x[:40], 2, 32, nil), "40 float32 values for 2 rows of 32 columns, want 64"},
		{"imatrix", QuantizeRows(Q8_0, q, x, 2, 32, make([]float32, 3)), "imatrix has 3 values for rows of 32 columns"},
		{"type", QuantizeRows(IQ2_XS, q, x, 2, 32, nil), "type IQ2_XS is not supported"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
	x[37] = float32(math.Inf(-1))
	err := QuantizeRows(Q8_0, q, x, 2, 32, nil)
	var nf *quant.NonFiniteError
	if !errors.Is(err, quant.ErrNonFinite) || !errors.As(err, &nf) || nf.Index != 37 {
		t.Errorf("non-finite input: error %v, want a NonFiniteError at 37", err)
	}
}
