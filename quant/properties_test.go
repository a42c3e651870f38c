package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestRoundTripWithinHalfScale: inside the representable range, dequantize(quantize(x))
// is within scale/2 of x, up to float32 rounding: 1/scale, x*(1/scale) and (q-zp)*scale
// are each rounded once, which adds at most a few ulps of x (visible for int16, whose codes
// reach 2^15) — the bound is scale/2·(1+2^-20) + |x|·2^-21.
func TestRoundTripWithinHalfScale(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, s := range []Scheme{
		{QType: QInt8}, {QType: QUInt8}, {QType: Int4}, {QType: UInt4}, {QType: Int16},
		{QType: QInt8, Numerics: ORT}, {QType: QUInt8, Numerics: ORT}, {QType: Int4, Numerics: ORT},
	} {
		for trial := 0; trial < 50; trial++ {
			scale := float32(math.Exp(r.Float64()*20 - 15))
			zp := s.QType.Min + int32(r.IntN(int(s.QType.Max-s.QType.Min+1)))
			lo := float64(s.QType.Min-zp) * float64(scale)
			hi := float64(s.QType.Max-zp) * float64(scale)
			x := make([]float32, 1000)
			for i := range x {
				x[i] = float32(lo + r.Float64()*(hi-lo))
			}
			xt := tensor.FromF32([]int{len(x)}, x)
			p := &QParams{Scheme: s, Scale: []float32{scale}, ZeroPoint: []int32{zp}, Axis: -1}
			q, err := Quantize(xt, p)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Dequantize(q, p)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range d.F32() {
				bound := float64(scale)/2*(1+1.0/(1<<20)) + math.Abs(float64(x[i]))/(1<<21)
				if e := math.Abs(float64(v) - float64(x[i])); e > bound {
					t.Fatalf("%s %v: x=%v -> %v, error %g > scale/2 = %g", s.QType.Name, s.Numerics, x[i], v, e, float64(scale)/2)
				}
			}
		}
	}
}

func TestPackRoundTripEveryCode(t *testing.T) {
	// Every int4 code in every nibble position, rows of lengths that do and do not fill
	// whole words.
	for _, cols := range []int{1, 7, 8, 9, 16, 23, 128} {
		rows := 16
		codes := make([]int8, rows*cols)
		for i := range codes {
			codes[i] = int8((i*7+i/cols)%16 - 8)
		}
		words := make([]int32, rows*((cols+7)/8))
		if err := PackInt4WordsTo(words, codes, cols); err != nil {
			t.Fatal(err)
		}
		back := make([]int8, len(codes))
		if err := UnpackInt4WordsTo(back, words, cols); err != nil {
			t.Fatal(err)
		}
		for i := range codes {
			if back[i] != codes[i] {
				t.Fatalf("cols %d: code %d: %d -> %d", cols, i, codes[i], back[i])
			}
		}
	}
	// The layout itself: element 8j+k at bits 4k, offset +8.
	w := make([]int32, 1)
	if err := PackInt4WordsTo(w, []int8{-8, -7, 0, 1, 2, 3, 6, 7}, 8); err != nil {
		t.Fatal(err)
	}
	if uint32(w[0]) != 0xFEBA9810 {
		t.Fatalf("word %#08x, want 0xfeba9810", uint32(w[0]))
	}
	// A short row pads with zero nibbles (code -8).
	if err := PackInt4WordsTo(w, []int8{7, 7, 7}, 3); err != nil || uint32(w[0]) != 0xFFF {
		t.Fatalf("padded word %#08x, %v", uint32(w[0]), err)
	}
	if err := PackInt4WordsTo(w, []int8{8}, 1); err == nil {
		t.Fatal("code 8 should not pack as int4")
	}
}

// TestSQNRMatchesTheory: int8 per-channel symmetric quantization of Gaussian weights.
// Every value lies inside its channel's range (symmetric, scale = absmax/127.5), so the
// error is uniform rounding noise of variance Δ²/12 with Δ the channel's scale. Theory:
// SQNR = 10·log10(Σx² / Σ_c n·Δ_c²/12), from the actual scales.
func TestSQNRMatchesTheory(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	rows, cols := 256, 4096
	x := make([]float32, rows*cols)
	for c := 0; c < rows; c++ {
		sigma := math.Exp(r.Float64()*2 - 1) // channels of different spread
		for i := 0; i < cols; i++ {
			x[c*cols+i] = float32(r.NormFloat64() * sigma)
		}
	}
	w := tensor.FromF32([]int{rows, cols}, x)
	q, p, err := ChooseAndQuantize(w, Scheme{QType: QInt8, Symmetric: true}, PerChannel(0))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Dequantize(q, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SQNR(x, d.F32())
	if err != nil {
		t.Fatal(err)
	}
	var signal, noise float64
	for _, v := range x {
		signal += float64(v) * float64(v)
	}
	for _, s := range p.Scale {
		noise += float64(cols) * float64(s) * float64(s) / 12
	}
	theory := 10 * math.Log10(signal/noise)
	t.Logf("SQNR %.3f dB, theory %.3f dB", got, theory)
	if math.Abs(got-theory) > 0.5 {
		t.Fatalf("SQNR %.3f dB is not within 0.5 dB of theory %.3f dB", got, theory)
	}
}

func TestMetrics(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	y := []float32{1, 2, 3, 5}
	e, err := Compare(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if e.MSE != 0.25 || e.MaxAbs != 1 || math.Abs(e.SQNR-10*math.Log10(30)) > 1e-12 ||
		math.Abs(e.Cosine-(1+4+9+20)/(math.Sqrt(30)*math.Sqrt(39))) > 1e-12 {
		t.Fatalf("metrics %+v", e)
	}
	if s, _ := SQNR(x, x); !math.IsInf(s, 1) {
		t.Fatalf("SQNR of equal inputs %v, want +Inf", s)
	}
	if c, _ := CosineSimilarity([]float32{0, 0}, []float32{0, 0}); c != 1 {
		t.Fatalf("cosine of zeros %v", c)
	}
	if _, err := Compare(x, y[:3]); err == nil {
		t.Fatal("length mismatch not reported")
	}
}

// TestPartialGroupIsZeroPadding checks the documented policy for a group size that does
// not divide the row: the short last group gets the qparams and codes that padding the
// row with zeros to a whole group would give.
func TestPartialGroupIsZeroPadding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	rows, cols, g := 3, 200, 128
	x := make([]float32, rows*cols)
	padded := make([]float32, rows*256)
	for i := range x {
		x[i] = float32(r.NormFloat64()) + 0.5
		padded[i/cols*256+i%cols] = x[i]
	}
	for _, s := range []Scheme{{QType: Int4, Symmetric: true}, {QType: QUInt8}, {QType: QUInt8, Numerics: ORT}} {
		q, p, err := ChooseAndQuantize(tensor.FromF32([]int{rows, cols}, x), s, PerGroup(g))
		if err != nil {
			t.Fatal(err)
		}
		qp, pp, err := ChooseAndQuantize(tensor.FromF32([]int{rows, 256}, padded), s, PerGroup(g))
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(p.Scale, pp.Scale) || len(p.Scale) != rows*2 {
			t.Fatalf("%s: partial-group scales %v, padded %v", s.QType.Name, p.Scale, pp.Scale)
		}
		a, b := codeBytes(q), codeBytes(qp)
		for i := range x {
			if a[i] != b[i/cols*256+i%cols] {
				t.Fatalf("%s: code %d differs from the zero-padded row", s.QType.Name, i)
			}
		}
		// And the codes equal the two-pass path.
		p2, err := ChooseQParams(tensor.FromF32([]int{rows, cols}, x), s, PerGroup(g))
		if err != nil || !sameBits(p2.Scale, p.Scale) {
			t.Fatalf("ChooseQParams differs: %v", err)
		}
	}
}

// TestChannelAxes: per-channel on every axis of a 3-D tensor equals quantizing each
// channel slice on its own.
func TestChannelAxes(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	shape := []int{3, 5, 40}
	x := make([]float32, 600)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * float32(1+i%7)
	}
	xt := tensor.FromF32(shape, x)
	s := Scheme{QType: QUInt8}
	for _, axis := range []int{0, 1, 2, -1} {
		q, p, err := ChooseAndQuantize(xt, s, PerChannel(axis))
		if err != nil {
			t.Fatal(err)
		}
		ax := (axis + 3) % 3
		if p.Axis != ax || len(p.Scale) != shape[ax] {
			t.Fatalf("axis %d: qparams axis %d, %d scales", axis, p.Axis, len(p.Scale))
		}
		codes := codeBytes(q)
		for c := 0; c < shape[ax]; c++ {
			var slice []float32
			var idx []int
			for i := range x {
				coord := []int{i / 200, i / 40 % 5, i % 40}
				if coord[ax] == c {
					slice = append(slice, x[i])
					idx = append(idx, i)
				}
			}
			qc, pc, err := ChooseAndQuantize(tensor.FromF32([]int{len(slice)}, slice), s, PerTensor())
			if err != nil {
				t.Fatal(err)
			}
			if pc.Scale[0] != p.Scale[c] || pc.ZeroPoint[0] != p.ZeroPoint[c] {
				t.Fatalf("axis %d channel %d: qparams differ", axis, c)
			}
			for j, i := range idx {
				if codeBytes(qc)[j] != codes[i] {
					t.Fatalf("axis %d channel %d: code differs", axis, c)
				}
			}
		}
		d, err := Dequantize(q, p)
		if err != nil || d.Numel() != len(x) {
			t.Fatal(err)
		}
	}
}

// TestBadInput: every refusal is an error with a clear message, never a panic.
func TestBadInput(t *testing.T) {
	nan := float32(math.NaN())
	x := tensor.FromF32([]int{2, 4}, []float32{1, 2, 3, 4, 5, nan, 7, 8})
	s := Scheme{QType: QInt8, Symmetric: true}
	for name, f := range map[string]func() error{
		"ChooseQParams": func() error { _, err := ChooseQParams(x, s, PerChannel(0)); return err },
		"ChooseAndQuantize": func() error {
			_, _, err := ChooseAndQuantize(x, s, PerGroup(2))
			return err
		},
		"Quantize": func() error {
			_, err := Quantize(x, &QParams{Scheme: s, Scale: []float32{1}, ZeroPoint: []int32{0}, Axis: -1})
			return err
		},
		"MinMax observer":     func() error { return NewMinMax(s).Observe(x) },
		"PerChannel observer": func() error { return NewPerChannelMinMax(s, 1).Observe(x) },
		"MovingAverage":       func() error { return NewMovingAverageMinMax(s).Observe(x) },
		"CalculateQParams Inf": func() error {
			_, _, err := CalculateQParams([]float32{0}, []float32{float32(math.Inf(1))}, s)
			return err
		},
	} {
		err := f()
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("%s: %v, want ErrNonFinite", name, err)
		}
		var nf *NonFiniteError
		if errors.As(err, &nf) && nf.Index != 5 {
			t.Fatalf("%s: index %d, want 5", name, nf.Index)
		}
	}
	wantErr := map[string]func() error{
		"channel axis 2 out of range": func() error { _, err := ChooseQParams(x, s, PerChannel(2)); return err },
		"channel axis -3 out of range": func() error {
			_, _, err := ChooseAndQuantize(x, s, PerChannel(-3))
			return err
		},
		"group size -4 must be positive": func() error { _, err := ChooseQParams(x, s, PerGroup(-4)); return err },
		"per-channel and per-group":      func() error { _, err := ChooseQParams(x, s, Granularity{PerChannel: true, GroupSize: 2}); return err },
		"needs at least one dimension": func() error {
			_, err := ChooseQParams(tensor.FromF32(nil, []float32{1}), s, PerGroup(2))
			return err
		},
		"unknown quantized type \"int3\"": func() error { _, err := ParseQType("int3"); return err },
		"unsupported quantized type": func() error {
			_, err := ChooseQParams(x, Scheme{QType: QType{Name: "int3", Min: -4, Max: 3, Bits: 3}}, PerTensor())
			return err
		},
		"not a float tensor": func() error { _, err := ChooseQParams(tensor.New(tensor.I32, 4), s, PerTensor()); return err },
		"scales and 1 zero points": func() error {
			_, err := Quantize(x, &QParams{Scheme: s, Scale: []float32{1, 2}, ZeroPoint: []int32{0}, Axis: 0})
			return err
		},
		"must be positive and finite": func() error {
			return QuantizeTo(make([]int8, 1), []float32{1}, 0, 0, s)
		},
		"do not fit":                 func() error { return QuantizeTo(make([]int8, 1), []float32{1}, 1, 0, Scheme{QType: QUInt8}) },
		"unknown observer \"histo\"": func() error { _, err := NewObserver("histo", s); return err },
		"saw 2 channels, now 3": func() error {
			o := NewPerChannelMinMax(s, 0)
			_ = o.Observe(tensor.FromF32([]int{2, 1}, []float32{1, 2}))
			return o.Observe(tensor.FromF32([]int{3, 1}, []float32{1, 2, 3}))
		},
		"Cannot cast": func() error { _, err := Cast(tensor.New(tensor.I8, 2), tensor.F16); return err },
	}
	for want, f := range wantErr {
		err := f()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
			t.Fatalf("want error containing %q, got %v", want, err)
		}
	}
}

func TestObserverFactory(t *testing.T) {
	s := Scheme{QType: QUInt8}
	for _, kind := range ObserverKinds() {
		o, err := NewObserver(kind, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Observe(benchWeights(4, 64)); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if _, err := o.QParams(); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	o, err := NewObserver("per_channel_minmax", s, WithAxis(1))
	if err != nil {
		t.Fatal(err)
	}
	_ = o.Observe(benchWeights(4, 6))
	if lo, _ := o.Range(); len(lo) != 6 {
		t.Fatalf("axis option ignored: %d channels", len(lo))
	}
	if _, err := NewObserver("moving_average", s, WithAveragingConstant(2)); err == nil {
		t.Fatal("averaging constant 2 accepted")
	}
	// Never-observed observers give scale 1, zero point 0, as torch does.
	for _, o := range []Observer{NewMinMax(s), NewMovingAverageMinMax(s), NewPerChannelMinMax(s, 0)} {
		p, err := o.QParams()
		if err != nil || p.Scale[0] != 1 || p.ZeroPoint[0] != 0 {
			t.Fatalf("unobserved qparams %+v %v", p, err)
		}
	}
}
