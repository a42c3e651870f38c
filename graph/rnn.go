package graph

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

// LSTM, GRU and RNN (ONNX's recurrent ops, opsets 7 to 21): forward, reverse or both
// directions, sequence_lens, initial states, LSTM peepholes and input_forget, GRU's
// linear_before_reset, clip, the activations attributes and layout 0/1. The input
// projection of every step is one GEMM per direction; each step then adds H·Rᵀ and applies
// the gates.

func init() {
	ops["LSTM"] = rnnOp("LSTM")
	ops["GRU"] = rnnOp("GRU")
	ops["RNN"] = rnnOp("RNN")
}

// rnnSpec is one recurrent op's resolved attributes.
type rnnSpec struct {
	op          string
	gates       int // 4 (LSTM: i o f c), 3 (GRU: z r h), 1 (RNN)
	hidden      int
	dirs        int
	reverse     []bool // per direction
	acts        []func(float32) float32
	clip        float32 // 0: none
	layout      int
	inputForget bool
	linearReset bool
}

// rnnActivation returns an activation of the recurrent ops, taking its alpha and beta from
// the lists where it needs them (in order, as onnxruntime does).
func rnnActivation(name string, alphas, betas *[]float32) (func(float32) float32, error) {
	take := func(list *[]float32, def float32) float32 {
		if len(*list) == 0 {
			return def
		}
		v := (*list)[0]
		*list = (*list)[1:]
		return v
	}
	sigmoid := func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
	switch strings.ToLower(name) {
	case "sigmoid":
		return sigmoid, nil
	case "tanh":
		return func(x float32) float32 { return float32(math.Tanh(float64(x))) }, nil
	case "relu":
		return func(x float32) float32 { return max(x, 0) }, nil
	case "affine":
		a, b := take(alphas, 1), take(betas, 0)
		return func(x float32) float32 { return a*x + b }, nil
	case "leakyrelu":
		a := take(alphas, 0.01)
		return func(x float32) float32 {
			if x < 0 {
				return a * x
			}
			return x
		}, nil
	case "thresholdedrelu":
		a := take(alphas, 1)
		return func(x float32) float32 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := take(alphas, 1), take(betas, 1)
		return func(x float32) float32 { return a * float32(math.Tanh(float64(b*x))) }, nil
	case "hardsigmoid":
		a, b := take(alphas, 0.2), take(betas, 0.5)
		return func(x float32) float32 { return max(0, min(1, a*x+b)) }, nil
	case "elu":
		a := take(alphas, 1)
		return func(x float32) float32 {
			if x < 0 {
				return a * float32(math.Expm1(float64(x)))
			}
			return x
		}, nil
	case "softsign":
		return func(x float32) float32 { return x / (1 + float32(math.Abs(float64(x)))) }, nil
	case "softplus":
		return func(x float32) float32 { return float32(math.Log1p(math.Exp(float64(x)))) }, nil
	}
	return nil, fmt.Errorf("activation %q", name)
}

func rnnOp(op string) opDef {
	return func(b *builder) (kernel, error) {
		maxIn, outs, gates, nActs := 6, 2, 1, 1
		defaults := []string{"Tanh"}
		switch op {
		case "LSTM":
			maxIn, outs, gates, nActs = 8, 3, 4, 3
			defaults = []string{"Sigmoid", "Tanh", "Tanh"}
		case "GRU":
			gates, nActs = 3, 2
			defaults = []string{"Sigmoid", "Tanh"}
		}
		if err := b.arity(3, maxIn, 0, outs); err != nil {
			return nil, err
		}
		for i := 0; i < maxIn; i++ {
			if i == 4 {
				if err := b.dtypes(i, tensor.I32, tensor.I64); err != nil {
					return nil, err
				}
			} else if err := b.dtypes(i, tensor.F32); err != nil {
				return nil, err
			}
		}
		s := rnnSpec{op: op, gates: gates, hidden: int(b.attrInt("hidden_size", 0)), clip: b.attrFloat("clip", 0),
			layout: int(b.attrInt("layout", 0)), inputForget: b.attrInt("input_forget", 0) != 0,
			linearReset: b.attrInt("linear_before_reset", 0) != 0}
		if op != "LSTM" && s.inputForget {
			return nil, b.unsupported("input_forget on %s", op)
		}
		switch dir := b.attrString("direction", "forward"); dir {
		case "forward":
			s.dirs, s.reverse = 1, []bool{false}
		case "reverse":
			s.dirs, s.reverse = 1, []bool{true}
		case "bidirectional":
			s.dirs, s.reverse = 2, []bool{false, true}
		default:
			return nil, b.unsupported("direction=%q", dir)
		}
		if s.layout != 0 && s.layout != 1 {
			return nil, b.unsupported("layout=%d", s.layout)
		}
		if s.clip < 0 {
			return nil, b.errorf("clip=%v is negative", s.clip)
		}
		if err := s.setActivations(b, defaults, nActs); err != nil {
			return nil, err
		}
		if w := b.in(1).Shape; s.hidden == 0 && len(w) == 3 && w[1] > 0 {
			s.hidden = w[1] / gates
		}
		s.setOuts(b, outs)
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return s.run(mem, ins, outs)
		}, nil
	}
}

// setActivations resolves the activations attribute (defaults per direction when absent)
// with their alphas and betas.
func (s *rnnSpec) setActivations(b *builder, defaults []string, nActs int) error {
	names := append([]string{}, defaults...)
	if s.dirs == 2 {
		names = append(names, defaults...)
	}
	if a, ok := b.attr("activations"); ok {
		if len(a.Strings) != nActs*s.dirs {
			return b.errorf("activations %q: want %d for %d directions", a.Strings, nActs*s.dirs, s.dirs)
		}
		names = a.Strings
	}
	alphaAttr, _ := b.attr("activation_alpha")
	betaAttr, _ := b.attr("activation_beta")
	alphas, betas := append([]float32{}, alphaAttr.Floats...), append([]float32{}, betaAttr.Floats...)
	for _, name := range names {
		f, err := rnnActivation(name, &alphas, &betas)
		if err != nil {
			return b.unsupported("%v", err)
		}
		s.acts = append(s.acts, f)
	}
	return nil
}

// setOuts records Y, Y_h (and Y_c) shapes from X's, as far as they are known.
func (s rnnSpec) setOuts(b *builder, outs int) {
	if x := b.in(0).Shape; len(x) == 3 {
		seq, batch := x[0], x[1]
		if s.layout == 1 {
			seq, batch = batch, seq
		}
		if s.layout == 0 {
			b.setOut(0, tensor.F32, []int{seq, s.dirs, batch, s.hidden})
			b.setOut(1, tensor.F32, []int{s.dirs, batch, s.hidden})
		} else {
			b.setOut(0, tensor.F32, []int{batch, seq, s.dirs, s.hidden})
			b.setOut(1, tensor.F32, []int{batch, s.dirs, s.hidden})
		}
		if outs == 3 {
			b.setOut(2, tensor.F32, b.out[1].Shape)
		}
	}
}

// rnnInputs are a run's inputs, checked and in layout 0.
type rnnInputs struct {
	x              []float32 // [seq, batch, in]
	seq, batch, in int
	w, r, bias, p  []float32 // bias and p may be nil
	lens           []int     // per batch element
	initH, initC   []float32 // [dirs, batch, hidden], may be nil
}

func (s rnnSpec) inputs(mem *arena, ins []*tensor.Tensor) (rnnInputs, error) {
	var in rnnInputs
	opt := func(i int) *tensor.Tensor {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	x, w, r := ins[0], ins[1], ins[2]
	if len(x.Shape) != 3 {
		return in, fmt.Errorf("X has shape %v, want 3 dims", x.Shape)
	}
	if s.layout == 1 {
		x = transpose(mem, x, []int{1, 0, 2})
	}
	in.seq, in.batch, in.in = x.Shape[0], x.Shape[1], x.Shape[2]
	gh := s.gates * s.hidden
	if !slices.Equal(w.Shape, []int{s.dirs, gh, in.in}) || !slices.Equal(r.Shape, []int{s.dirs, gh, s.hidden}) {
		return in, fmt.Errorf("W %v and R %v do not fit %d directions, %d gates of %d hidden and %d inputs", w.Shape, r.Shape, s.dirs, s.gates, s.hidden, in.in)
	}
	in.x, in.w, in.r = elems[float32](x), elems[float32](w), elems[float32](r)
	if b := opt(3); b != nil {
		if !slices.Equal(b.Shape, []int{s.dirs, 2 * gh}) {
			return in, fmt.Errorf("B has shape %v, want [%d %d]", b.Shape, s.dirs, 2*gh)
		}
		in.bias = elems[float32](b)
	}
	in.lens = make([]int, in.batch)
	for i := range in.lens {
		in.lens[i] = in.seq
	}
	if l := opt(4); l != nil {
		v, err := toInts(mem, l)
		if err != nil || len(v) != in.batch {
			return in, fmt.Errorf("sequence_lens has shape %v for a batch of %d", l.Shape, in.batch)
		}
		for i, n := range v {
			if n < 0 || int(n) > in.seq {
				return in, fmt.Errorf("sequence_lens %v out of range [0, %d]", v, in.seq)
			}
			in.lens[i] = int(n)
		}
	}
	state := func(t *tensor.Tensor, what string) ([]float32, error) {
		if t == nil {
			return nil, nil
		}
		if s.layout == 1 {
			t = transpose(mem, t, []int{1, 0, 2})
		}
		if !slices.Equal(t.Shape, []int{s.dirs, in.batch, s.hidden}) {
			return nil, fmt.Errorf("%s has shape %v, want [%d %d %d] in layout 0", what, t.Shape, s.dirs, in.batch, s.hidden)
		}
		return elems[float32](t), nil
	}
	var err error
	if in.initH, err = state(opt(5), "initial_h"); err != nil {
		return in, err
	}
	if s.op == "LSTM" {
		if in.initC, err = state(opt(6), "initial_c"); err != nil {
			return in, err
		}
		if p := opt(7); p != nil {
			if !slices.Equal(p.Shape, []int{s.dirs, 3 * s.hidden}) {
				return in, fmt.Errorf("P has shape %v, want [%d %d]", p.Shape, s.dirs, 3*s.hidden)
			}
			in.p = elems[float32](p)
		}
	}
	return in, nil
}

func (s rnnSpec) run(mem *arena, ins []*tensor.Tensor, nOut int) ([]*tensor.Tensor, error) {
	in, err := s.inputs(mem, ins)
	if err != nil {
		return nil, err
	}
	hd, batch, seq := s.hidden, in.batch, in.seq
	if err := checkOutputSize([]int{seq, s.dirs, batch, hd}); err != nil {
		return nil, err
	}
	y := tensor.New(tensor.F32, seq, s.dirs, batch, hd)
	yh := tensor.New(tensor.F32, s.dirs, batch, hd)
	yc := tensor.New(tensor.F32, s.dirs, batch, hd)
	yv, yhv, ycv := elems[float32](y), elems[float32](yh), elems[float32](yc)
	for d := 0; d < s.dirs; d++ {
		s.direction(mem, in, d, yv, yhv[d*batch*hd:(d+1)*batch*hd], ycv[d*batch*hd:(d+1)*batch*hd])
	}
	outs := []*tensor.Tensor{y, yh, yc}[:nOut]
	if s.layout == 1 {
		outs[0] = transpose(nil, y, []int{2, 0, 1, 3})
		for i := 1; i < nOut; i++ {
			outs[i] = transpose(nil, outs[i], []int{1, 0, 2})
		}
	}
	return outs, nil
}

// direction runs direction d over the sequence, writing its outputs into y ([seq, dirs,
// batch, hidden]) and its final hidden and cell states into h and c ([batch, hidden]).
func (s rnnSpec) direction(mem *arena, in rnnInputs, d int, y, h, c []float32) {
	hd, batch, seq, g := s.hidden, in.batch, in.seq, s.gates
	gh := g * hd
	w := in.w[d*gh*in.in : (d+1)*gh*in.in]
	r := in.r[d*gh*hd : (d+1)*gh*hd]
	// xw[t][b] = X[t][b]·Wᵀ + Wb (+ Rb, except GRU's h gate, whose Rb goes inside the reset)
	xw := make([]float32, seq*batch*gh)
	sgemm.Run(gemmScratch{mem}, xw, gh, sgemm.Operands{A: sgemm.Matrix{Data: in.x, LD: in.in}, B: sgemm.Matrix{Data: w, LD: in.in, Trans: true}}, seq*batch, gh, in.in, 0)
	var wb, rb []float32
	if in.bias != nil {
		wb, rb = in.bias[d*2*gh:d*2*gh+gh], in.bias[d*2*gh+gh:(d+1)*2*gh]
		for row := 0; row < seq*batch; row++ {
			v := xw[row*gh : (row+1)*gh]
			for j := range v {
				v[j] += wb[j]
				if s.op != "GRU" || j < 2*hd {
					v[j] += rb[j]
				}
			}
		}
	}
	if in.initH != nil {
		copy(h, in.initH[d*batch*hd:(d+1)*batch*hd])
	}
	if in.initC != nil {
		copy(c, in.initC[d*batch*hd:(d+1)*batch*hd])
	}
	var p []float32
	if in.p != nil {
		p = in.p[d*3*hd : (d+1)*3*hd]
	}
	acts := s.acts[d*len(s.acts)/s.dirs : (d+1)*len(s.acts)/s.dirs]
	hr := make([]float32, batch*gh)
	rh := make([]float32, batch*hd)  // GRU: r ⊙ H
	rhr := make([]float32, batch*hd) // GRU: (r ⊙ H)·Rhᵀ
	for step := 0; step < seq; step++ {
		clear(hr)
		sgemm.Run(gemmScratch{mem}, hr, gh, sgemm.Operands{A: sgemm.Matrix{Data: h, LD: hd}, B: sgemm.Matrix{Data: r, LD: hd, Trans: true}}, batch, gh, hd, 1)
		for bi := 0; bi < batch; bi++ {
			t, ok := s.timeOf(in, d, step, bi)
			if !ok {
				continue
			}
			x := xw[(t*batch+bi)*gh : (t*batch+bi+1)*gh]
			hb, hrb := h[bi*hd:(bi+1)*hd], hr[bi*gh:(bi+1)*gh]
			switch s.op {
			case "LSTM":
				s.lstmCell(acts, x, hrb, p, hb, c[bi*hd:(bi+1)*hd])
			case "RNN":
				for j := range hb {
					hb[j] = acts[0](s.clipped(x[j] + hrb[j]))
				}
			case "GRU":
				s.gruGates(acts, x, hrb, hb, rb, rh[bi*hd:(bi+1)*hd])
			}
		}
		if s.op == "GRU" {
			s.gruStep(mem, acts, in, d, step, xw, hr, h, rh, rhr, r, rb)
		}
		for bi := 0; bi < batch; bi++ {
			t, ok := s.timeOf(in, d, step, bi)
			if !ok {
				continue
			}
			copy(y[((t*s.dirs+d)*batch+bi)*hd:][:hd], h[bi*hd:(bi+1)*hd])
		}
	}
}

// timeOf is the time index batch row bi reads at step in direction d; false past its length.
func (s rnnSpec) timeOf(in rnnInputs, d, step, bi int) (int, bool) {
	if s.reverse[d] {
		return in.lens[bi] - 1 - step, step < in.lens[bi]
	}
	return step, step < in.lens[bi]
}

func (s rnnSpec) clipped(v float32) float32 {
	if s.clip > 0 {
		return max(-s.clip, min(s.clip, v))
	}
	return v
}

// lstmCell updates one batch element's h and c; x and hr hold the gates i, o, f, c.
func (s rnnSpec) lstmCell(acts []func(float32) float32, x, hr, p, h, c []float32) {
	hd := s.hidden
	f, g, act := acts[0], acts[1], acts[2]
	for j := 0; j < hd; j++ {
		cPrev := c[j]
		pi, po, pf := float32(0), float32(0), float32(0)
		if p != nil {
			pi, po, pf = p[j], p[hd+j], p[2*hd+j]
		}
		it := f(s.clipped(x[j] + hr[j] + pi*cPrev))
		ft := f(s.clipped(x[2*hd+j] + hr[2*hd+j] + pf*cPrev))
		if s.inputForget {
			ft = 1 - it
		}
		ct := g(s.clipped(x[3*hd+j] + hr[3*hd+j]))
		cNew := ft*cPrev + it*ct
		ot := f(s.clipped(x[hd+j] + hr[hd+j] + po*cNew))
		c[j] = cNew
		h[j] = ot * act(cNew)
	}
}

// gruGates computes z and r into x's first two gate blocks for one batch element (the
// step's update happens in gruStep, which needs r ⊙ H of the whole batch for one GEMM).
func (s rnnSpec) gruGates(acts []func(float32) float32, x, hr, h, rb, rh []float32) {
	hd := s.hidden
	for j := 0; j < hd; j++ {
		x[j] = acts[0](s.clipped(x[j] + hr[j]))          // z
		x[hd+j] = acts[0](s.clipped(x[hd+j] + hr[hd+j])) // r
		rh[j] = x[hd+j] * h[j]
	}
}

// gruStep finishes a GRU step for the whole batch: the candidate h̃ (reset after or before
// the recurrent product, by linear_before_reset) and H = (1-z)·h̃ + z·H.
func (s rnnSpec) gruStep(mem *arena, acts []func(float32) float32, in rnnInputs, d, step int, xw, hr, h, rh, rhr, r, rb []float32) {
	hd, batch, gh := s.hidden, in.batch, s.gates*s.hidden
	if !s.linearReset {
		clear(rhr)
		sgemm.Run(gemmScratch{mem}, rhr, hd, sgemm.Operands{A: sgemm.Matrix{Data: rh, LD: hd}, B: sgemm.Matrix{Data: r[2*hd*hd:], LD: hd, Trans: true}}, batch, hd, hd, 1)
	}
	for bi := 0; bi < batch; bi++ {
		t, ok := s.timeOf(in, d, step, bi)
		if !ok {
			continue
		}
		x := xw[(t*batch+bi)*gh : (t*batch+bi+1)*gh]
		hb := h[bi*hd : (bi+1)*hd]
		for j := 0; j < hd; j++ {
			z, rt := x[j], x[hd+j]
			var rbh float32
			if rb != nil {
				rbh = rb[2*hd+j]
			}
			var pre float32
			if s.linearReset {
				pre = x[2*hd+j] + rt*(hr[bi*gh+2*hd+j]+rbh)
			} else {
				pre = x[2*hd+j] + rhr[bi*hd+j] + rbh
			}
			cand := acts[1](s.clipped(pre))
			hb[j] = (1-z)*cand + z*hb[j]
		}
	}
}
