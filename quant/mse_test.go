package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// bruteForceMSE runs the documented search on raw samples instead of a histogram.
func bruteForceMSE(x []float32, s Scheme, o MSEOptions) (lo, hi float32) {
	dataLo, dataHi := x[0], x[0]
	for _, v := range x {
		dataLo, dataHi = min(dataLo, v), max(dataHi, v)
	}
	dataLo, dataHi = min(dataLo, 0), max(dataHi, 0)
	best := math.Inf(1)
	for i := range int(o.MaxShrink * float64(o.Grid)) {
		p := float32(1 - float64(i)/float64(o.Grid))
		cLo, cHi := p*dataLo, p*dataHi
		scale, zp, err := CalculateQParams([]float32{cLo}, []float32{cHi}, s)
		if err != nil {
			panic(err)
		}
		var e float64
		for _, v := range x {
			q := clampF32(float32(math.RoundToEven(float64(v*(1/scale[0]))))+float32(zp[0]),
				float32(s.QType.Min), float32(s.QType.Max))
			d := float64(v) - float64((q-float32(zp[0]))*scale[0])
			e += d * d
		}
		if e < best {
			best, lo, hi = e, cLo, cHi
		}
	}
	return lo, hi
}

func TestMSEAgreesWithSearchOnRawSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	laplace := func() float32 {
		u := rng.Float64() - 0.5
		return float32(-math.Copysign(math.Log(1-2*math.Abs(u)), u))
	}
	for _, s := range []Scheme{
		{QType: QInt8, Symmetric: true},
		{QType: QUInt8},
		{QType: Int4, Symmetric: true},
	} {
		x := make([]float32, 50000)
		for i := range x {
			x[i] = laplace()
		}
		x[10], x[20] = 40, -25 // outliers the search should clip away
		o := MSEOptions{Grid: 100, MaxShrink: 0.8}
		m, err := NewMSEOptions(s, o)
		if err != nil {
			t.Fatal(err)
		}
		// Three batches: the later ones widen the range and re-bin the histogram.
		for _, part := range [][]float32{x[:15], x[15:30000], x[30000:]} {
			if err := m.Observe(tensor.FromF32([]int{len(part)}, part)); err != nil {
				t.Fatal(err)
			}
		}
		lo, hi, err := m.ClippedRange()
		if err != nil {
			t.Fatal(err)
		}
		wantLo, wantHi := bruteForceMSE(x, s, MSEOptions{Grid: 100, MaxShrink: 0.8, Norm: 2})
		// The histogram approximates the samples: allow two grid steps of 40.
		if math.Abs(float64(hi-wantHi)) > 0.02*40*2 || math.Abs(float64(lo-wantLo)) > 0.02*40*2 {
			t.Errorf("%s symmetric=%v: range [%g, %g], search on samples [%g, %g]",
				s.QType.Name, s.Symmetric, lo, hi, wantLo, wantHi)
		}
		t.Logf("%s sym=%v: [%g, %g] vs samples [%g, %g]", s.QType.Name, s.Symmetric, lo, hi, wantLo, wantHi)
		if s.QType.Bits == 4 && hi > 20 {
			// 16 levels over ±40 waste most codes; the search must clip.
			t.Errorf("%s: range not clipped: hi = %g", s.QType.Name, hi)
		}
	}
}

func TestMSEUniformKeepsFullRange(t *testing.T) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -1 + 2*float32(i)/float32(len(x)-1)
	}
	m := NewMSE(Scheme{QType: QInt8, Symmetric: true})
	if err := m.Observe(tensor.FromF32([]int{len(x)}, x)); err != nil {
		t.Fatal(err)
	}
	lo, hi, err := m.ClippedRange()
	if err != nil {
		t.Fatal(err)
	}
	// Uniform data: clipping only adds error, so the widest candidates win.
	if hi < 0.98 || lo > -0.98 {
		t.Errorf("uniform data clipped to [%g, %g]", lo, hi)
	}
}

func TestMSEOptionsValidated(t *testing.T) {
	for _, o := range []MSEOptions{{Grid: -1}, {MaxShrink: 1.5}, {Norm: -2}, {Bins: 6}} {
		if _, err := NewMSEOptions(Scheme{QType: QInt8}, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
