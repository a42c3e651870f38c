package onnxquant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// gptqTarget is one MatMul GPTQ quantizes.
type gptqTarget struct {
	node   int    // index in the source graph
	name   string // layer name
	output string // the MatMul's output, which finds it among graph/'s nodes
	weight string
	K, N   int
	w      []float32 // [K, N]
	// transposed: the initializer holds the weight as [N, K] (Gemm with transB=1).
	transposed bool
}

// LayerGPTQ compares GPTQ with round to nearest on one layer: the squared error of the
// MatMul's output against the float weight's, on held-out samples whose inputs come from
// the model with the layers before already GPTQ-quantized.
type LayerGPTQ struct {
	Name            string
	Samples         int     // held-out samples
	RTNMSE, GPTQMSE float64 // mean squared error of the layer output
	RTNSQNR         float64 // dB, output against the float weight's output
	GPTQSQNR        float64
}

// gptqLayer quantizes one target with GPTQ from its weight W [N, K] (rows are output
// channels) and Hessian H [K, K], returning the weight it stands for ([K, N], what later
// layers see), round to nearest's ([K, N], for the held-out comparison) and the codes in
// the caller's form.
type gptqLayer func(t gptqTarget, W, H []float64) (deq, rtn []float32, codes any, err error)

// gptq quantizes the selected MatMul weights with GPTQ in graph order, each layer's
// Hessian coming from graph/ runs on the calibration samples with the layers before it
// already replaced by their GPTQ weights (dequantized), as the reference quantizes a model
// block by block. Layers are taken in waves: one pass over the samples serves every
// remaining layer whose input no other remaining layer feeds (a block's q, k and v
// projections, say), which gives the same inputs as one pass per layer. Memory: the
// samples, one K×K Hessian per layer of the wave and the model's graph. It returns each
// quantized node's codes (by node index), as layer made them.
func (r *rewriter) gptq(ctx context.Context, o Options, layer gptqLayer) (map[int]any, error) {
	targets, err := r.gptqTargets()
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	return r.gptqOn(ctx, o, targets, layer)
}

// gptqOn is gptq for the given targets, in graph order.
func (r *rewriter) gptqOn(ctx context.Context, o Options, targets []gptqTarget, layer gptqLayer) (map[int]any, error) {
	model, inits := r.workingModel()
	calib, heldout, err := r.readSamples(ctx, model, o.GPTQ)
	if err != nil {
		return nil, err
	}
	upstream := upstreamTargets(r.m.GetGraph().GetNode(), targets)
	out := map[int]any{}
	for remaining := targets; len(remaining) > 0; {
		var wave []gptqTarget
		wave, remaining = readyWave(remaining, upstream)
		g, err := graph.Load(model, graph.Options{External: graph.ExternalIn(r.src.Dir())})
		if err != nil {
			return nil, fmt.Errorf("gptq: graph/ cannot run the model to collect MatMul inputs: %w", err)
		}
		Hs, err := hessians(ctx, g, wave, calib)
		if err != nil {
			return nil, err
		}
		var done []gptqTarget
		var deqs, rtns [][]float32
		for i, t := range wave {
			deq, rtn, codes, err := layer(t, weightRows(t), Hs[i])
			Hs[i] = nil
			if errors.Is(err, errNotPD) {
				r.warn("layer %s: %v even after dampening (percdamp %g): round to nearest instead (more or more varied calibration samples, or a larger percdamp, help)", t.name, err, o.GPTQ.PercDamp)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("gptq: layer %s: %w", t.name, err)
			}
			out[t.node] = codes
			done, deqs, rtns = append(done, t), append(deqs, deq), append(rtns, rtn)
		}
		if len(heldout) > 0 && len(done) > 0 {
			cmps, err := compareOnHeldout(ctx, g, done, heldout, rtns, deqs)
			if err != nil {
				return nil, err
			}
			r.gptqLayers = append(r.gptqLayers, cmps...)
		}
		for i, t := range done {
			wt := tensor.FromF32([]int{t.K, t.N}, deqs[i])
			if t.transposed {
				wt = tensor.FromF32([]int{t.N, t.K}, transpose(deqs[i], t.K, t.N))
			}
			tp, err := onnx.TensorToProto(t.weight, wt)
			if err != nil {
				return nil, err
			}
			model.Graph.Initializer[inits[t.weight]] = tp
		}
	}
	return out, nil
}

// transpose returns the [cols, rows] transpose of x [rows, cols].
func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = x[r*cols+c]
		}
	}
	return out
}

// weightRows is t's weight as GPTQ takes it: [N, K], rows are output channels.
func weightRows(t gptqTarget) []float64 {
	W := make([]float64, t.N*t.K)
	for k := 0; k < t.K; k++ {
		for n := 0; n < t.N; n++ {
			W[n*t.K+k] = float64(t.w[k*t.N+n])
		}
	}
	return W
}

// upstreamTargets maps each target's node to the other targets its input depends on.
func upstreamTargets(nodes []*onnxpb.NodeProto, targets []gptqTarget) map[int]map[int]bool {
	producer := map[string]int{}
	for i, n := range nodes {
		for _, s := range n.GetOutput() {
			producer[s] = i
		}
	}
	isTarget := map[int]bool{}
	for _, t := range targets {
		isTarget[t.node] = true
	}
	out := map[int]map[int]bool{}
	for _, t := range targets {
		up := map[int]bool{}
		seen := map[int]bool{}
		stack := []string{nodes[t.node].GetInput()[0]}
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i, ok := producer[s]
			if !ok || seen[i] {
				continue
			}
			seen[i] = true
			if isTarget[i] {
				up[i] = true
			}
			stack = append(stack, nodes[i].GetInput()...)
		}
		out[t.node] = up
	}
	return out
}

// readyWave splits the remaining targets into those no other remaining target feeds and
// the rest, keeping graph order.
func readyWave(remaining []gptqTarget, upstream map[int]map[int]bool) (wave, rest []gptqTarget) {
	left := map[int]bool{}
	for _, t := range remaining {
		left[t.node] = true
	}
	for _, t := range remaining {
		ready := true
		for u := range upstream[t.node] {
			ready = ready && !left[u]
		}
		if ready {
			wave = append(wave, t)
		} else {
			rest = append(rest, t)
		}
	}
	return wave, rest
}

// gptqTargets lists the selected MatMuls the 4-bit form takes, in graph order.
func (r *rewriter) gptqTargets() ([]gptqTarget, error) {
	var out []gptqTarget
	for i, n := range r.m.GetGraph().GetNode() {
		d := r.decisions[i]
		if d == nil || !d.Selected || int4Reason(n.GetOpType(), d.Layer.Shape, d.Layer.DType) != "" {
			continue
		}
		_, w, err := r.weight(d.Layer.Weight)
		if err != nil {
			return nil, err
		}
		out = append(out, gptqTarget{node: i, name: d.Layer.Name, output: n.GetOutput()[0], weight: d.Layer.Weight,
			K: d.Layer.Shape[0], N: d.Layer.Shape[1], w: w})
	}
	return out, nil
}

// workingModel is a copy of the source model whose initializer list can be replaced
// entry by entry, and the index of each initializer.
func (r *rewriter) workingModel() (*onnxpb.ModelProto, map[string]int) {
	m := proto.Clone(&onnxpb.ModelProto{IrVersion: r.m.IrVersion, OpsetImport: r.m.OpsetImport}).(*onnxpb.ModelProto)
	g := r.m.GetGraph()
	m.Graph = &onnxpb.GraphProto{Node: g.Node, Initializer: append([]*onnxpb.TensorProto(nil), g.Initializer...),
		Input: g.Input, Output: g.Output, ValueInfo: g.ValueInfo, Name: g.Name}
	idx := map[string]int{}
	for i, t := range m.Graph.Initializer {
		idx[t.GetName()] = i
	}
	return m, idx
}

// defaultGPTQBatch is the batch GPTQ feeds the model when its batch axis is dynamic.
const defaultGPTQBatch = 8

// feed is one batch of model inputs and how many samples it holds.
type feed struct {
	inputs  map[string]*tensor.Tensor
	samples int
}

func countSamples(feeds []feed) int {
	n := 0
	for _, f := range feeds {
		n += f.samples
	}
	return n
}

// readSamples reads the calibration samples and, after them, the held-out ones, as feeds.
func (r *rewriter) readSamples(ctx context.Context, model *onnxpb.ModelProto, o GPTQOptions) (cal, heldout []feed, err error) {
	g, err := graph.Load(model, graph.Options{External: graph.ExternalIn(r.src.Dir())})
	if err != nil {
		return nil, nil, fmt.Errorf("gptq: graph/ cannot run the model to collect MatMul inputs: %w", err)
	}
	b, err := calib.Bind(o.Calib, g.Inputs(), "GPTQ calibration data")
	if err != nil {
		return nil, nil, err
	}
	batch := b.FixedBatch()
	if batch == 0 {
		batch = defaultGPTQBatch
	}
	rd, err := o.Calib.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	want := o.Samples + o.Heldout
	read := 0
	for read < want {
		n := min(batch, want-read)
		if read < o.Samples {
			n = min(n, o.Samples-read) // a batch never straddles the held-out boundary
		}
		bt, err := rd.Next(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		in, err := b.Feed(bt)
		if err != nil {
			return nil, nil, err
		}
		if read < o.Samples {
			cal = append(cal, feed{in, bt.Len})
		} else {
			heldout = append(heldout, feed{in, bt.Len})
		}
		read += bt.Len
	}
	if len(cal) == 0 {
		return nil, nil, fmt.Errorf("gptq: calibration data %q has no samples", o.Calib.Name())
	}
	if read < want {
		r.warn("gptq: %d samples asked for (%d calibration + %d held out), the data has %d", want, o.Samples, o.Heldout, read)
	}
	return cal, heldout, nil
}

// runOn runs g on every feed, calling fn with the index in targets of each target
// MatMul reached and its input.
func runOn(ctx context.Context, g *graph.Graph, targets []gptqTarget, feeds []feed, fn func(i int, x []float32, rows int)) error {
	byOutput := map[string]int{}
	for i, t := range targets {
		byOutput[t.output] = i
	}
	hooks := &graph.Hooks{AfterNode: func(n *graph.Node, ins, _ []*tensor.Tensor) error {
		if len(n.Outputs) == 0 || len(ins) == 0 || ins[0] == nil {
			return nil
		}
		i, ok := byOutput[n.Outputs[0]]
		if !ok {
			return nil
		}
		t := targets[i]
		x := ins[0].ToF32()
		if len(x)%t.K != 0 {
			return fmt.Errorf("gptq: layer %s: input of %d values is not rows of %d", t.name, len(x), t.K)
		}
		fn(i, x, len(x)/t.K)
		return nil
	}}
	r := g.NewRunner()
	for _, f := range feeds {
		if _, err := r.Run(ctx, f.inputs, hooks); err != nil {
			return fmt.Errorf("gptq: running the model: %w", err)
		}
	}
	return nil
}

// hessians accumulates, for each target, H = 2XᵀX/n over the calibration feeds, n
// counting samples, as the reference's add_batch does.
func hessians(ctx context.Context, g *graph.Graph, targets []gptqTarget, feeds []feed) ([][]float64, error) {
	Hs := make([][]float64, len(targets))
	for i, t := range targets {
		Hs[i] = make([]float64, t.K*t.K)
	}
	err := runOn(ctx, g, targets, feeds, func(i int, x []float32, rows int) {
		K, H := targets[i].K, Hs[i]
		for r := 0; r < rows; r++ {
			row := x[r*K : (r+1)*K]
			for a, xa := range row {
				if xa == 0 {
					continue
				}
				hi := H[a*K : a*K+K]
				fa := float64(xa)
				for j := a; j < K; j++ {
					hi[j] += fa * float64(row[j])
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	scale := 2 / float64(max(countSamples(feeds), 1))
	for i, t := range targets {
		K, H := t.K, Hs[i]
		for a := 0; a < K; a++ {
			for j := a; j < K; j++ {
				v := H[a*K+j] * scale
				H[a*K+j], H[j*K+a] = v, v
			}
		}
	}
	return Hs, nil
}

// compareOnHeldout measures each target's output error with its RTN and its GPTQ weight
// ([K, N] each) against the float weight, on the held-out feeds.
func compareOnHeldout(ctx context.Context, g *graph.Graph, targets []gptqTarget, feeds []feed, rtn, gq [][]float32) ([]LayerGPTQ, error) {
	type sums struct{ sig, eR, eG float64 }
	acc := make([]sums, len(targets))
	counts := make([]int, len(targets))
	err := runOn(ctx, g, targets, feeds, func(i int, x []float32, rows int) {
		t, s := targets[i], &acc[i]
		for r := 0; r < rows; r++ {
			row := x[r*t.K : (r+1)*t.K]
			for n := 0; n < t.N; n++ {
				var yf, yr, yg float64
				for k, a := range row {
					fa := float64(a)
					yf += fa * float64(t.w[k*t.N+n])
					yr += fa * float64(rtn[i][k*t.N+n])
					yg += fa * float64(gq[i][k*t.N+n])
				}
				s.sig += yf * yf
				s.eR += (yr - yf) * (yr - yf)
				s.eG += (yg - yf) * (yg - yf)
				counts[i]++
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]LayerGPTQ, len(targets))
	samples := countSamples(feeds)
	for i, t := range targets {
		s, c := acc[i], float64(max(counts[i], 1))
		out[i] = LayerGPTQ{Name: t.name, Samples: samples, RTNMSE: s.eR / c, GPTQMSE: s.eG / c,
			RTNSQNR: 10 * math.Log10(s.sig/s.eR), GPTQSQNR: 10 * math.Log10(s.sig/s.eG)}
	}
	return out, nil
}
