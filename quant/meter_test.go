package quant

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/internal/parallel"
	"github.com/qscript-dev/qscript/tensor"
)

// TestMeterMatchesReference measures a weight in pieces on four workers with AddCodes and
// compares the meter's result with the reference loop over the whole weight: ErrorSums.Add
// on the dequantized values and the float32 bin formula with the top value folded into the
// last bin. Counts and max|x-y| must be equal; the other figures may move by float64
// summation order only (relative 1e-12 is far above that for 2¹⁸ terms and far below any
// digit the report prints).
func TestMeterMatchesReference(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	rng := rand.New(rand.NewPCG(5, 6))
	const n, piece, bins = 1 << 18, 1000, 64
	x, codes, y := make([]float32, n), make([]int8, n), make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.05)
		codes[i] = int8(rng.IntN(256) - 128)
	}
	scale, zp := float32(0.001), int32(-2)
	dequantizeRow(y, codes, scale, zp)
	lo, hi := slices.Min(x), slices.Max(x)
	inv := float32(float64(bins) / float64(hi-lo))

	pieces := (n + piece - 1) / piece
	m := NewMeter(pieces, bins)
	parallel.For(pieces, parallel.MinBytes, func(p, worker int) error {
		a, z := p*piece, min((p+1)*piece, n)
		var s StatsAcc
		s.AddCodes(m.Counts(worker), x[a:z], codes[a:z], scale, zp, lo, inv)
		m.SetPiece(p, s.Sums())
		return nil
	})
	got, counts := m.Result()

	var ref ErrorSums
	ref.Add(x, y)
	want := ref.Errors()
	wantCounts := make([]int64, bins)
	for _, v := range x {
		wantCounts[min(int((v-lo)*inv), bins-1)]++
	}
	if !slices.Equal(counts, wantCounts) || got.MaxAbs != want.MaxAbs {
		t.Fatalf("counts %v max %g, want %v max %g", counts, got.MaxAbs, wantCounts, want.MaxAbs)
	}
	for _, p := range [][2]float64{{got.MSE, want.MSE}, {got.SQNR, want.SQNR}, {got.Cosine, want.Cosine}} {
		if math.Abs(p[0]-p[1]) > 1e-12*math.Abs(p[1]) {
			t.Errorf("errors %+v, reference %+v", got, want)
		}
	}
}

// TestDequantizeKernelsMatchReference checks the per-run dequantize kernels against their
// reference loops: fp8 by table against tensor's scalar decoders times the scale, and
// interleaved channels against the per-element formula.
func TestDequantizeKernelsMatchReference(t *testing.T) {
	src := make([]uint8, 256)
	for i := range src {
		src[i] = uint8(i)
	}
	for _, dt := range []tensor.DType{tensor.F8E4M3, tensor.F8E5M2} {
		decode := tensor.F8E4M3ToF32
		if dt == tensor.F8E5M2 {
			decode = tensor.F8E5M2ToF32
		}
		got := make([]float32, len(src))
		if err := DequantizeFP8To(got, src, 0.37, dt); err != nil {
			t.Fatal(err)
		}
		for i, c := range src {
			if w := decode(c) * 0.37; math.Float32bits(got[i]) != math.Float32bits(w) && !(w != w && got[i] != got[i]) {
				t.Fatalf("%v code %d: %g, want %g", dt, c, got[i], w)
			}
		}
	}
	if err := DequantizeFP8To(make([]float32, 1), []uint8{1}, 1, tensor.F16); err == nil {
		t.Error("DequantizeFP8To accepted F16")
	}
	codes := []int8{-128, -1, 0, 1, 127, 5, -7}
	scale, zp := []float32{0.5, 0.25, 3}, []int32{136, 128, 120}
	got := make([]float32, len(codes))
	if err := DequantizeChannelsTo(got, codes, scale, zp, 128, 2); err != nil {
		t.Fatal(err)
	}
	for i, q := range codes {
		k := (2 + i) % 3
		if w := float32(int32(q)-(zp[k]-128)) * scale[k]; got[i] != w {
			t.Fatalf("element %d: %g, want %g", i, got[i], w)
		}
	}
}
