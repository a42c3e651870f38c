package onnxquant

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/tensor"
)

// StateDictGPTQ is what GPTQStateDict did to a state-dict plan.
type StateDictGPTQ struct {
	// Nodes maps each GPTQ layer of the state dict to the ONNX node its weight was found in.
	Nodes map[string]string
	// RTN lists the selected layers left to round to nearest, with the reason.
	RTN map[string]string
	// Layers compares GPTQ with round to nearest per layer (with held-out samples).
	Layers   []LayerGPTQ
	Warnings []string
}

// GPTQStateDict runs GPTQ for the selected Linear weights of q, a plan of a state dict
// to integer weights, on the ONNX export g of the same model: each weight is matched to
// the MatMul or Gemm of g whose initializer holds it (by its name when the exporter kept
// it, else by equal values, transposed for MatMul's [in, out]); the inputs of those nodes
// on the calibration data build the Hessians as for the ONNX outputs (layers in graph
// order, each seeing the earlier ones quantized); the quantizer inside the loop is q's
// own scheme (quant's scale and zero-point arithmetic, groups along the input, scales
// rounded as stored). The codes go to q.SetCodes, so q.Save writes them. A selected
// layer that matches no node, or whose Hessian is not positive definite, keeps round to
// nearest, with the reason in RTN.
func GPTQStateDict(ctx context.Context, q *quantize.WeightPlan, g *onnx.File, o GPTQOptions) (*StateDictGPTQ, error) {
	scheme, group, perChannel, ok := q.IntScheme()
	if !ok {
		return nil, fmt.Errorf("gptq: needs an integer weight scheme (int8, uint8, int4, uint4), not %s", q.Scheme())
	}
	if err := (Options{Int4Form: FormMatMulNBits, AccuracyLevel: -1, Method: MethodGPTQ, GPTQ: o}).validate(); err != nil {
		return nil, err
	}
	r := &rewriter{src: g, m: g.Proto()}
	res := &StateDictGPTQ{Nodes: map[string]string{}, RTN: map[string]string{}}
	targets, dtypes, err := matchLinears(r, q, res)
	if err != nil {
		return nil, err
	}
	quantizer := schemeQuantizer{s: scheme, group: group, perChannel: perChannel}
	codes := map[string]quantize.Codes{}
	layer := func(t gptqTarget, W, H []float64) ([]float32, []float32, any, error) {
		sq := quantizer
		sq.dtype = dtypes[t.name]
		c, deq, err := sq.gptq(t, W, H, o)
		if err != nil {
			return nil, nil, nil, err
		}
		_, rtn, err := sq.rtn(t)
		return deq, rtn, c, err
	}
	out, err := r.gptqOn(ctx, Options{GPTQ: o}, targets, layer)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		c, ok := out[t.node]
		if !ok {
			res.RTN[t.name] = "the dampened Hessian is not positive definite"
			continue
		}
		codes[t.name] = c.(quantize.Codes)
	}
	for name, c := range codes {
		if err := q.SetCodes(name, c); err != nil {
			return nil, err
		}
	}
	res.Layers, res.Warnings = r.gptqLayers, r.warnings
	return res, nil
}

// linearCand is a MatMul or Gemm (not transA) whose weight is a 2-D initializer.
type linearCand struct {
	node       int
	init       string
	transposed bool
	K, N       int
}

// linearCandidates lists the graph's linearCands with their weights as [K, N], keyed by a
// hash of the weight as [out, in], the Linear layout.
func linearCandidates(r *rewriter) ([]linearCand, [][]float32, map[uint64][]int, error) {
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range r.m.GetGraph().GetInitializer() {
		inits[t.GetName()] = t
	}
	var cands []linearCand
	for i, n := range r.m.GetGraph().GetNode() {
		in := n.GetInput()
		if len(in) < 2 || inits[in[1]] == nil || len(inits[in[1]].GetDims()) != 2 || len(n.GetOutput()) == 0 {
			continue
		}
		switch {
		case !layer.Quantizable(n.GetDomain(), n.GetOpType()):
		case n.GetOpType() == "MatMul":
			cands = append(cands, linearCand{node: i, init: in[1]})
		case n.GetOpType() == "Gemm" && onnx.AttrInt(n, "transA", 0) == 0:
			cands = append(cands, linearCand{node: i, init: in[1], transposed: onnx.AttrInt(n, "transB", 0) != 0})
		}
	}
	byHash := map[uint64][]int{}
	weights := make([][]float32, len(cands)) // [K, N]
	for ci, c := range cands {
		_, w, err := r.weight(c.init)
		if err != nil {
			return nil, nil, nil, err
		}
		dims := inits[c.init].GetDims()
		K, N := int(dims[0]), int(dims[1])
		if c.transposed {
			w = transpose(w, K, N)
			K, N = N, K
		}
		weights[ci] = w
		cands[ci].K, cands[ci].N = K, N
		h := hashOutIn(w, K, N)
		byHash[h] = append(byHash[h], ci)
	}
	return cands, weights, byHash, nil
}

// matchLinears finds the ONNX node of each selected Linear weight of q and returns the
// GPTQ targets in graph order (named by the state dict's layers) and each layer's dtype.
func matchLinears(r *rewriter, q *quantize.WeightPlan, res *StateDictGPTQ) ([]gptqTarget, map[string]tensor.DType, error) {
	nodes := r.m.GetGraph().GetNode()
	cands, weights, byHash, err := linearCandidates(r)
	if err != nil {
		return nil, nil, err
	}
	used := map[int]string{}
	var targets []gptqTarget
	dtypes := map[string]tensor.DType{}
	for _, d := range q.Decisions() {
		l := d.Layer
		if !d.Selected {
			continue
		}
		if len(l.Shape) != 2 || l.Axis != 0 {
			res.RTN[l.Name] = fmt.Sprintf("not a Linear weight [out, in] (shape %v)", l.Shape)
			continue
		}
		wt, err := q.Source().Load(l.Weight)
		if err != nil {
			return nil, nil, fmt.Errorf("gptq: layer %s: %w", l.Name, err)
		}
		w := wt.ToF32() // [out, in]
		N, K := l.Shape[0], l.Shape[1]
		found := -1
		for _, ci := range byHash[hashOut(w)] {
			c := cands[ci]
			if c.K == K && c.N == N && equalOutIn(w, weights[ci], K, N) && (found < 0 || c.init == l.Weight) {
				found = ci
			}
		}
		if found < 0 {
			res.RTN[l.Name] = "no MatMul or Gemm of the graph holds this weight (by name or by value)"
			continue
		}
		c := cands[found]
		if other, dup := used[c.node]; dup {
			res.RTN[l.Name] = fmt.Sprintf("its weight is the one of layer %s (tied): node %s is quantized once", other, nodes[c.node].GetName())
			continue
		}
		used[c.node] = l.Name
		res.Nodes[l.Name] = nodes[c.node].GetName()
		dtypes[l.Name] = l.DType
		targets = append(targets, gptqTarget{node: c.node, name: l.Name, output: nodes[c.node].GetOutput()[0],
			weight: c.init, K: K, N: N, w: weights[found], transposed: c.transposed})
	}
	sort.Slice(targets, func(a, b int) bool { return targets[a].node < targets[b].node })
	return targets, dtypes, nil
}

// hashOutIn hashes a [K, N] weight's values in [N, K] order (Linear's layout).
func hashOutIn(w []float32, K, N int) uint64 {
	h := fnv.New64a()
	var b [4]byte
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			u := math.Float32bits(w[k*N+n])
			b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			h.Write(b[:])
		}
	}
	return h.Sum64()
}

// hashOut hashes an [N, K] weight as hashOutIn hashes its transpose.
func hashOut(w []float32) uint64 { return hashOutIn(w, len(w), 1) }

// equalOutIn reports whether w [N, K] holds the same float32 values as t [K, N] transposed.
func equalOutIn(w, t []float32, K, N int) bool {
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			if math.Float32bits(w[n*K+k]) != math.Float32bits(t[k*N+n]) {
				return false
			}
		}
	}
	return true
}

// schemeQuantizer is a state-dict output's integer quantizer inside GPTQ's loop: the
// qparams of quant.CalculateQParams on a row's (per channel), a group's or the whole
// weight's range, scales rounded as the output stores them, codes by quant.QuantizeTo:
// the arithmetic of quantize's round to nearest, which it gives without error feedback.
type schemeQuantizer struct {
	s          quant.Scheme
	group      int
	perChannel bool
	dtype      tensor.DType // the state dict's weight dtype (scales are stored in it)
}

// params returns the scale and zero point of the values vals.
func (sq schemeQuantizer) params(vals []float64) (float32, int32, error) {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range vals {
		f := float32(v)
		lo, hi = min(lo, f), max(hi, f)
	}
	sc, zp, err := quant.CalculateQParams([]float32{lo}, []float32{hi}, sq.s)
	if err != nil {
		return 0, 0, err
	}
	s := quantize.StoredScale(sc[0], sq.dtype)
	if !(s > 0) || math.IsInf(float64(s), 0) {
		return 0, 0, fmt.Errorf("scale %g does not fit %v", sc[0], sq.dtype)
	}
	return s, zp[0], nil
}

// code quantizes one value with scale and zp and returns its code and value.
func (sq schemeQuantizer) code(w float64, scale float32, zp int32) (int32, float64, error) {
	x := []float32{float32(w)}
	var c int32
	if sq.s.QType.Signed {
		d := []int8{0}
		if err := quant.QuantizeTo(d, x, scale, zp, sq.s); err != nil {
			return 0, 0, err
		}
		c = int32(d[0])
	} else {
		d := []uint8{0}
		if err := quant.QuantizeTo(d, x, scale, zp, sq.s); err != nil {
			return 0, 0, err
		}
		c = int32(d[0])
	}
	return c, float64(float32(c-zp) * scale), nil
}

// layout is the number of parameters per row and the parameter of (row n, column k).
func (sq schemeQuantizer) layout(rows, cols int) (count int, at func(n, k int) int) {
	switch {
	case sq.group > 0:
		g := (cols + sq.group - 1) / sq.group
		return rows * g, func(n, k int) int { return n*g + k/sq.group }
	case sq.perChannel:
		return rows, func(n, _ int) int { return n }
	}
	return 1, func(int, int) int { return 0 }
}

// qparams builds the QParams of count parameters as quantize lays them out.
func (sq schemeQuantizer) qparams(count int) *quant.QParams {
	p := &quant.QParams{Scheme: sq.s, Scale: make([]float32, count), ZeroPoint: make([]int32, count)}
	if sq.group > 0 {
		p.Axis, p.GroupSize = 1, sq.group
	}
	return p
}

// findAll sets every parameter from W [rows, cols].
func (sq schemeQuantizer) findAll(p *quant.QParams, W []float64, rows, cols int) error {
	switch {
	case sq.group > 0:
		for n := 0; n < rows; n++ {
			for k := 0; k < cols; k += sq.group {
				if err := sq.find(p, W, n, k, cols); err != nil {
					return err
				}
			}
		}
	case sq.perChannel:
		for n := 0; n < rows; n++ {
			if err := sq.find(p, W, n, 0, cols); err != nil {
				return err
			}
		}
	default:
		s, z, err := sq.params(W)
		p.Scale[0], p.ZeroPoint[0] = s, z
		return err
	}
	return nil
}

// find sets the parameter of row n that starts at column k (a group, or the whole row).
func (sq schemeQuantizer) find(p *quant.QParams, W []float64, n, k, cols int) error {
	end := cols
	i := n
	if sq.group > 0 {
		end, i = min(k+sq.group, cols), n*((cols+sq.group-1)/sq.group)+k/sq.group
	}
	s, z, err := sq.params(W[n*cols+k : n*cols+end])
	p.Scale[i], p.ZeroPoint[i] = s, z
	return err
}

// gptq runs GPTQ on t: W [N, K], H [K, K]. Group parameters are found when the loop
// reaches a group (static on the original weight with act order), per-channel and
// per-tensor ones once on the original weight, as gptqQuantize and gptqInt8 do. It
// returns the codes [N, K] and the weight they stand for as [K, N].
func (sq schemeQuantizer) gptq(t gptqTarget, W, H []float64, o GPTQOptions) (quantize.Codes, []float32, error) {
	rows, cols := t.N, t.K
	count, at := sq.layout(rows, cols)
	p := sq.qparams(count)
	codes := make([]int32, rows*cols)
	var qerr error
	hooks := gptqHooks{quantize: func(n, orig int, w float64) float64 {
		i := at(n, orig)
		c, v, err := sq.code(w, p.Scale[i], p.ZeroPoint[i])
		if err != nil && qerr == nil {
			qerr = err
		}
		codes[n*cols+orig] = c
		return v
	}}
	switch {
	case sq.group == 0:
		// Found once on the weight as it is, before dead inputs are zeroed (gptqInt8).
		if err := sq.findAll(p, W, rows, cols); err != nil {
			return quantize.Codes{}, nil, err
		}
	case o.ActOrder:
		// Static groups on the original order, after dead inputs are zeroed (gptqQuantize).
		hooks.before = func(W []float64) {
			if err := sq.findAll(p, W, rows, cols); err != nil && qerr == nil {
				qerr = err
			}
		}
	default:
		hooks.reach = func(W []float64, col int) {
			if col%sq.group != 0 {
				return
			}
			for n := 0; n < rows; n++ {
				if err := sq.find(p, W, n, col, cols); err != nil && qerr == nil {
					qerr = err
				}
			}
		}
	}
	if err := gptqLoop(W, H, rows, cols, o.PercDamp, o.ActOrder, o.BlockSize, hooks); err != nil {
		return quantize.Codes{}, nil, err
	}
	if qerr != nil {
		return quantize.Codes{}, nil, qerr
	}
	return quantize.Codes{Codes: codes, P: p}, sq.dequant(codes, p, rows, cols, at), nil
}

// rtn is round to nearest of t's weight with the same quantizer: codes [N, K] and their
// values as [K, N].
func (sq schemeQuantizer) rtn(t gptqTarget) ([]int32, []float32, error) {
	rows, cols := t.N, t.K
	W := weightRows(t)
	count, at := sq.layout(rows, cols)
	p := sq.qparams(count)
	if err := sq.findAll(p, W, rows, cols); err != nil {
		return nil, nil, err
	}
	codes := make([]int32, rows*cols)
	for n := 0; n < rows; n++ {
		for k := 0; k < cols; k++ {
			i := at(n, k)
			c, _, err := sq.code(W[n*cols+k], p.Scale[i], p.ZeroPoint[i])
			if err != nil {
				return nil, nil, err
			}
			codes[n*cols+k] = c
		}
	}
	return codes, sq.dequant(codes, p, rows, cols, at), nil
}

// dequant returns codes [rows, cols] as values [cols, rows].
func (sq schemeQuantizer) dequant(codes []int32, p *quant.QParams, rows, cols int, at func(n, k int) int) []float32 {
	out := make([]float32, rows*cols)
	for n := 0; n < rows; n++ {
		for k := 0; k < cols; k++ {
			i := at(n, k)
			out[k*rows+n] = float32(codes[n*cols+k]-p.ZeroPoint[i]) * p.Scale[i]
		}
	}
	return out
}
