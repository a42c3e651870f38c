package onnxquant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/data"
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

// gptq quantizes the selected MatMul weights with GPTQ, layer after layer in graph order:
// each layer's Hessian comes from running graph/ on the calibration samples with the
// layers before it already replaced by their GPTQ weights (dequantized), as the reference
// quantizes a model block by block. Memory: the samples, one K×K Hessian and the model's
// graph. It returns each quantized node's codes (by node index), as layer made them.
func (r *rewriter) gptq(ctx context.Context, o Options, layer gptqLayer) (map[int]any, error) {
	targets, err := r.gptqTargets()
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	model, inits := r.workingModel()
	calib, heldout, err := r.readSamples(ctx, model, o.GPTQ)
	if err != nil {
		return nil, err
	}
	out := map[int]any{}
	for _, t := range targets {
		g, err := graph.Load(model, graph.Options{External: externalResolver(r.src)})
		if err != nil {
			return nil, fmt.Errorf("gptq: graph/ cannot run the model to collect MatMul inputs: %w", err)
		}
		H, err := hessian(ctx, g, t, calib)
		if err != nil {
			return nil, err
		}
		W := make([]float64, t.N*t.K) // [N, K]: rows are output channels
		for k := 0; k < t.K; k++ {
			for n := 0; n < t.N; n++ {
				W[n*t.K+k] = float64(t.w[k*t.N+n])
			}
		}
		deq, rtn, codes, err := layer(t, W, H)
		if errors.Is(err, errNotPD) {
			r.warn("layer %s: %v even after dampening (percdamp %g): round to nearest instead (more or more varied calibration samples, or a larger percdamp, help)", t.name, err, o.GPTQ.PercDamp)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("gptq: layer %s: %w", t.name, err)
		}
		if len(heldout) > 0 {
			cmp, err := compareOnHeldout(ctx, g, t, heldout, rtn, deq)
			if err != nil {
				return nil, err
			}
			r.gptqLayers = append(r.gptqLayers, cmp)
		}
		out[t.node] = codes
		tp, err := onnx.TensorToProto(t.weight, tensor.FromF32([]int{t.K, t.N}, deq))
		if err != nil {
			return nil, err
		}
		model.Graph.Initializer[inits[t.weight]] = tp
	}
	return out, nil
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
func (r *rewriter) readSamples(ctx context.Context, model *onnxpb.ModelProto, o GPTQOptions) (calib, heldout []feed, err error) {
	g, err := graph.Load(model, graph.Options{External: externalResolver(r.src)})
	if err != nil {
		return nil, nil, fmt.Errorf("gptq: graph/ cannot run the model to collect MatMul inputs: %w", err)
	}
	b, err := data.Bind(o.Calib, g.Inputs(), "GPTQ calibration data")
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
			calib = append(calib, feed{in, bt.Len})
		} else {
			heldout = append(heldout, feed{in, bt.Len})
		}
		read += bt.Len
	}
	if len(calib) == 0 {
		return nil, nil, fmt.Errorf("gptq: calibration data %q has no samples", o.Calib.Name())
	}
	if read < want {
		r.warn("gptq: %d samples asked for (%d calibration + %d held out), the data has %d", want, o.Samples, o.Heldout, read)
	}
	return calib, heldout, nil
}

// runOn runs g on every feed, calling fn with the input of t's MatMul.
func runOn(ctx context.Context, g *graph.Graph, t gptqTarget, feeds []feed, fn func(x []float32, rows int)) error {
	hooks := &graph.Hooks{AfterNode: func(n *graph.Node, ins, _ []*tensor.Tensor) error {
		if len(n.Outputs) == 0 || n.Outputs[0] != t.output || len(ins) == 0 || ins[0] == nil {
			return nil
		}
		x := ins[0].ToF32()
		if len(x)%t.K != 0 {
			return fmt.Errorf("gptq: layer %s: input of %d values is not rows of %d", t.name, len(x), t.K)
		}
		fn(x, len(x)/t.K)
		return nil
	}}
	r := g.NewRunner()
	for _, f := range feeds {
		if _, err := r.Run(ctx, f.inputs, hooks); err != nil {
			return fmt.Errorf("gptq: running the model for layer %s: %w", t.name, err)
		}
	}
	return nil
}

// hessian accumulates H = 2XᵀX/n over the calibration feeds, n counting samples (the
// batch axis), as the reference's add_batch does; only H is kept.
func hessian(ctx context.Context, g *graph.Graph, t gptqTarget, feeds []feed) ([]float64, error) {
	K := t.K
	H := make([]float64, K*K)
	samples := countSamples(feeds)
	err := runOn(ctx, g, t, feeds, func(x []float32, rows int) {
		for r := 0; r < rows; r++ {
			row := x[r*K : (r+1)*K]
			for i, a := range row {
				if a == 0 {
					continue
				}
				hi := H[i*K : i*K+K]
				fa := float64(a)
				for j := i; j < K; j++ {
					hi[j] += fa * float64(row[j])
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	scale := 2 / float64(max(samples, 1))
	for i := 0; i < K; i++ {
		for j := i; j < K; j++ {
			v := H[i*K+j] * scale
			H[i*K+j], H[j*K+i] = v, v
		}
	}
	return H, nil
}

// compareOnHeldout measures the layer's output error with the RTN and the GPTQ weight
// ([K, N] each) against the float weight, on the held-out feeds.
func compareOnHeldout(ctx context.Context, g *graph.Graph, t gptqTarget, feeds []feed, rtn, gq []float32) (LayerGPTQ, error) {
	var sig, eR, eG float64
	var count int
	samples := countSamples(feeds)
	err := runOn(ctx, g, t, feeds, func(x []float32, rows int) {
		for r := 0; r < rows; r++ {
			row := x[r*t.K : (r+1)*t.K]
			for n := 0; n < t.N; n++ {
				var yf, yr, yg float64
				for k, a := range row {
					fa := float64(a)
					yf += fa * float64(t.w[k*t.N+n])
					yr += fa * float64(rtn[k*t.N+n])
					yg += fa * float64(gq[k*t.N+n])
				}
				sig += yf * yf
				eR += (yr - yf) * (yr - yf)
				eG += (yg - yf) * (yg - yf)
				count++
			}
		}
	})
	if err != nil {
		return LayerGPTQ{}, err
	}
	c := float64(max(count, 1))
	return LayerGPTQ{Name: t.name, Samples: samples, RTNMSE: eR / c, GPTQMSE: eG / c,
		RTNSQNR: 10 * math.Log10(sig/eR), GPTQSQNR: 10 * math.Log10(sig/eG)}, nil
}
