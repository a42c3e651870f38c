package static

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx/qdq"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// Thresholds of the accuracy check's warnings.
const (
	// WarnOutputSQNR: a whole-model output SQNR below it is a warning.
	WarnOutputSQNR = 15.0
	// WarnNodeCost: a node whose own damage accounts for more than this many dB of the
	// output SQNR is a warning, when the output SQNR is below WarnNodeCostUnder (in a
	// model whose output is that close to the float one, naming the node that causes most
	// of a negligible error would only be noise).
	WarnNodeCost      = 3.0
	WarnNodeCostUnder = 30.0
	// DefaultCheckSamples is how many calibration samples the check runs.
	DefaultCheckSamples = 16
	// nodeRunBudget bounds the sample runs of the per-node measurement (nodes × samples):
	// a model with many nodes measures each node's own damage on fewer samples (at least
	// one), so that the check stays a fraction of the calibration's time.
	nodeRunBudget = 192
	// maxCostDB caps the estimated cost of one node (its noise alone reaching the whole
	// model's).
	maxCostDB = 30
)

// CheckOptions configures Plan.Check.
type CheckOptions struct {
	// Samples is how many samples of the data to run (0: DefaultCheckSamples).
	Samples int
	// Bind says how the data feeds the model (batch axes; Zeros is set from State).
	Bind calib.BindOptions
	// State carries recurrent state from run to run, as in calibration: the samples run one
	// at a time, in order, and each model (float and quantized) carries its own state.
	State []calib.StatePair
	// MinSQNR, when above 0, keeps the most damaging nodes in float, one at a time, until
	// the output SQNR reaches it.
	MinSQNR float64
	// Eval and MaxDrop, when both are set, keep the most damaging nodes in float, one at a
	// time, until the quantized accuracy on Eval's labels is within MaxDrop (a fraction,
	// 0.01 for one point) of the float model's, as NNCF's accuracy control does.
	Eval    data.Source
	MaxDrop float64
}

// checkOps read a value where a quantized zero is a singularity or changes everything
// downstream: the input index that matters.
var checkOps = map[string]int{"Log": 0, "Div": 1, "Sqrt": 0, "Pow": 0, "Reciprocal": 0}

// Check measures the quantization's damage on a few samples of src (the calibration data):
// the output SQNR of the QDQ model against the float model (float, loaded from the same
// file), and each quantized node's own damage (the output SQNR when only that node is
// quantized, through the same QDQ export ONNX Runtime runs). It warns, naming the node,
// its activation and range, when the output SQNR is below WarnOutputSQNR, when one node
// alone costs more than WarnNodeCost dB (of an output SQNR below WarnNodeCostUnder), and
// when values that feed Log, Div, Sqrt, Pow or
// Reciprocal are zero after quantization but not in float. The warnings and the figures
// go into the report (Report().Accuracy); they change nothing else.
//
// The opt-in loops (MinSQNR, and Eval with MaxDrop) return another Plan, planned with the
// nodes they kept in float added to the skip list; otherwise the returned Plan is m with
// the check attached. The weight plan of Weights is not changed by the loops.
func (m *Plan) Check(ctx context.Context, float *graph.Graph, src data.Source, opts CheckOptions) (*Plan, error) {
	ch, err := newChecker(ctx, m, float, src, opts)
	if err != nil {
		return nil, err
	}
	acc, err := ch.measure(ctx, m)
	if err != nil {
		return nil, err
	}
	cur := m
	if opts.MinSQNR > 0 {
		if cur, err = ch.minSQNR(ctx, cur, acc, opts.MinSQNR); err != nil {
			return nil, err
		}
	}
	if opts.Eval != nil && opts.MaxDrop > 0 {
		if cur, err = ch.maxDrop(ctx, cur, acc, opts); err != nil {
			return nil, err
		}
	}
	return cur.withCheck(acc, ch.warnings(acc, cur)), nil
}

// checker holds the samples and the float model's outputs.
type checker struct {
	m      *Plan
	float  *graph.Graph
	feeds  []map[string]*tensor.Tensor
	outs   [][]float32 // float outputs per feed
	n      int
	state  []calib.StatePair
	zeroes map[string]zeroCount // by node name, from the full model's run
}

type zeroCount struct {
	op, input    string
	float, quant int
	lo, hi       float32 // float range of the input
	seen         bool
}

func newChecker(ctx context.Context, m *Plan, float *graph.Graph, src data.Source, opts CheckOptions) (*checker, error) {
	want := opts.Samples
	if want <= 0 {
		want = DefaultCheckSamples
	}
	bo := opts.Bind
	for _, s := range opts.State {
		bo.Zeros = append(bo.Zeros, s.Into)
	}
	bind, err := calib.BindWith(src, float.Inputs(), "calibration data", bo)
	if err != nil {
		return nil, err
	}
	// A model with a fixed batch size gets whole batches only (at least one).
	batch := bind.FixedBatch()
	if len(opts.State) > 0 {
		batch = 1
	}
	fixed := batch > 0
	if fixed {
		want = max(batch, want/batch*batch)
	} else {
		batch = min(want, 8)
	}
	rd, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	ch := &checker{m: m, float: float, state: opts.State}
	for ch.n < want {
		b, err := rd.Next(min(batch, want-ch.n))
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if fixed && b.Len != batch {
			break
		}
		feed, err := bind.Feed(b)
		if err != nil {
			return nil, err
		}
		for k, t := range feed { // the reader may reuse its buffers
			feed[k] = t.Clone()
		}
		ch.feeds = append(ch.feeds, feed)
		ch.n += b.Len
	}
	if ch.n == 0 {
		return nil, fmt.Errorf("calibration data %q: %w", src.Name(), data.ErrEmpty)
	}
	if ch.outs, err = ch.runAll(ctx, float, nil, len(ch.feeds)); err != nil {
		return nil, fmt.Errorf("static: float model: %w", err)
	}
	return ch, nil
}

// runAll runs g on the first n feeds in order, carrying the state of Options.State from
// each run to the next, and returns each run's float outputs, concatenated.
func (ch *checker) runAll(ctx context.Context, g *graph.Graph, hooks func(i int) *graph.Hooks, n int) ([][]float32, error) {
	outs := make([][]float32, n)
	carry := map[string]*tensor.Tensor{}
	for i, feed := range ch.feeds[:n] {
		var h *graph.Hooks
		if hooks != nil {
			h = hooks(i)
		}
		if len(carry) > 0 {
			feed = maps.Clone(feed)
			maps.Copy(feed, carry)
		}
		res, err := g.Run(ctx, feed, h)
		if err != nil {
			return nil, err
		}
		for _, s := range ch.state {
			if t := res[s.Out]; t != nil {
				carry[s.Into] = t.Clone()
			}
		}
		outs[i] = floatOutputs(g, res)
	}
	return outs, nil
}

// floatOutputs concatenates g's float outputs.
func floatOutputs(g *graph.Graph, res map[string]*tensor.Tensor) []float32 {
	var out []float32
	for _, o := range g.Outputs() {
		if t := res[o.Name]; t != nil && t.DType.IsFloat() {
			out = append(out, t.ToF32()...)
		}
	}
	return out
}

// sqnr runs a quantized graph on the samples and returns the output SQNR and the noise
// power relative to the signal (0 when exact).
func (ch *checker) sqnr(ctx context.Context, g *graph.Graph, hooks func(i int) *graph.Hooks) (float64, float64, error) {
	return ch.sqnrOn(ctx, g, hooks, len(ch.feeds))
}

// sqnrOn is sqnr on the first feeds only.
func (ch *checker) sqnrOn(ctx context.Context, g *graph.Graph, hooks func(i int) *graph.Hooks, feeds int) (float64, float64, error) {
	var sig, noise float64
	qs, err := ch.runAll(ctx, g, hooks, feeds)
	if err != nil {
		return 0, 0, fmt.Errorf("static: quantized model: %w", err)
	}
	for i, q := range qs {
		f := ch.outs[i]
		if len(q) != len(f) {
			return 0, 0, fmt.Errorf("static: the quantized model's outputs have %d values, the float model's %d", len(q), len(f))
		}
		for j := range f {
			d := float64(f[j]) - float64(q[j])
			if math.IsNaN(d) || math.IsInf(d, 0) {
				d = math.Inf(1)
			}
			sig += float64(f[j]) * float64(f[j])
			noise += d * d
		}
	}
	if noise == 0 {
		return math.Inf(1), 0, nil
	}
	if math.IsInf(noise, 1) || sig == 0 {
		return math.Inf(-1), math.Inf(1), nil
	}
	return 10 * math.Log10(sig/noise), noise / sig, nil
}

// variant loads the QDQ model of m's plan with only the nodes in keep quantized.
func variant(m *Plan, keep map[string]bool) (*graph.Graph, error) {
	plan := *m.plan
	plan.Nodes = map[string]qdq.NodePlan{}
	for name, np := range m.plan.Nodes {
		if !keep[name] {
			np = qdq.NodePlan{Skip: true}
		}
		plan.Nodes[name] = np
	}
	p, err := qdq.Export(m.norm.base, &plan)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return graph.Load(p, graph.Options{External: graph.ExternalIn(m.src.Dir())})
}

// measure computes the whole model's and each node's damage, and counts the zeros that
// reach the ops of checkOps in the float and the quantized run.
func (ch *checker) measure(ctx context.Context, m *Plan) (*report.Accuracy, error) {
	full, err := m.Graph()
	if err != nil {
		return nil, err
	}
	ch.zeroes = map[string]zeroCount{}
	if _, err := ch.runAll(ctx, ch.float, ch.countZeros(false), len(ch.feeds)); err != nil {
		return nil, err
	}
	total, noise, err := ch.sqnr(ctx, full, ch.countZeros(true))
	if err != nil {
		return nil, err
	}
	acc := &report.Accuracy{Samples: ch.n, OutputSQNR: total}
	quantized := 0
	for _, l := range m.layers {
		if l.quantized {
			quantized++
		}
	}
	// Each node on fewer feeds when there are many nodes; the whole model's noise on the
	// same feeds, for the cost estimate.
	feeds := len(ch.feeds)
	if quantized > 0 {
		perFeed := max(1, ch.n/len(ch.feeds))
		feeds = max(1, min(feeds, nodeRunBudget/(quantized*perFeed)))
	}
	if feeds < len(ch.feeds) {
		if _, noise, err = ch.sqnrOn(ctx, full, nil, feeds); err != nil {
			return nil, err
		}
	}
	for _, l := range m.layers {
		if !l.quantized {
			continue
		}
		g, err := variant(m, map[string]bool{l.Name: true})
		if err != nil {
			return nil, err
		}
		s, ni, err := ch.sqnrOn(ctx, g, nil, feeds)
		if err != nil {
			return nil, err
		}
		// Each variant holds a copy of the weights and its runs' buffers: collect it now,
		// or a hundred of them pile up before the collector's next cycle.
		g = nil
		runtime.GC()
		na := report.NodeAccuracy{Name: l.Name, Activation: l.Input, SQNR: s, CostDB: cost(noise, ni)}
		if a, ok := m.cal.Activation(l.Input); ok {
			na.Min, na.Max = float64(a.ClipMin), float64(a.ClipMax)
		}
		acc.Nodes = append(acc.Nodes, na)
	}
	sort.SliceStable(acc.Nodes, func(i, j int) bool { return acc.Nodes[i].SQNR < acc.Nodes[j].SQNR })
	return acc, nil
}

// cost estimates the output SQNR gained by removing one node's noise ni from the whole
// model's noise n (both relative to the signal), capped at maxCostDB.
func cost(n, ni float64) float64 {
	if n == 0 || ni == 0 {
		return 0
	}
	if math.IsInf(n, 1) {
		if math.IsInf(ni, 1) {
			return maxCostDB
		}
		return 0
	}
	rest := n - ni
	if rest <= n*1e-3 {
		return maxCostDB
	}
	return min(maxCostDB, 10*math.Log10(n/rest))
}

// countZeros returns per-sample hooks counting the exact zeros in the inputs of checkOps
// nodes (quant: of the quantized run).
func (ch *checker) countZeros(quant bool) func(int) *graph.Hooks {
	h := &graph.Hooks{AfterNode: func(n *graph.Node, ins, _ []*tensor.Tensor) error {
		i, ok := checkOps[n.OpType]
		if !ok || i >= len(ins) || ins[i] == nil || !ins[i].DType.IsFloat() {
			return nil
		}
		c := ch.zeroes[n.Name]
		c.op, c.input = n.OpType, n.Inputs[i]
		for _, v := range ins[i].ToF32() {
			if v == 0 {
				if quant {
					c.quant++
				} else {
					c.float++
				}
			}
			if !quant {
				if !c.seen {
					c.lo, c.hi, c.seen = v, v, true
				}
				c.lo, c.hi = min(c.lo, v), max(c.hi, v)
			}
		}
		ch.zeroes[n.Name] = c
		return nil
	}}
	return func(int) *graph.Hooks { return h }
}

// minSQNR keeps nodes in float, the one with the lowest own SQNR first, until the output
// SQNR reaches min (or no node is left quantized).
func (ch *checker) minSQNR(ctx context.Context, m *Plan, acc *report.Accuracy, min float64) (*Plan, error) {
	cur, sqnr := m, acc.OutputSQNR
	for _, n := range slices.Clone(acc.Nodes) {
		if sqnr >= min {
			break
		}
		next, err := cur.keepFloat(ctx, n.Name, "min_sqnr")
		if err != nil {
			return nil, err
		}
		g, err := next.Graph()
		if err != nil {
			return nil, err
		}
		s, _, err := ch.sqnr(ctx, g, nil)
		if err != nil {
			return nil, err
		}
		acc.Kept = append(acc.Kept, report.KeptNode{Name: n.Name, Loop: "min_sqnr", GainDB: s - sqnr})
		cur, sqnr = next, s
	}
	acc.OutputSQNR = sqnr
	return cur, nil
}

// maxDrop keeps nodes in float, most damaging first, until the quantized accuracy on the
// evaluation data is within opts.MaxDrop of the float accuracy.
func (ch *checker) maxDrop(ctx context.Context, m *Plan, acc *report.Accuracy, opts CheckOptions) (*Plan, error) {
	evalOf := func(mm *Plan) (*report.Eval, error) {
		g, err := mm.Graph()
		if err != nil {
			return nil, err
		}
		return Evaluate(ctx, ch.float, g, opts.Eval, EvalOptions{})
	}
	e, err := evalOf(m)
	if err != nil {
		return nil, err
	}
	if e.FloatAccuracy == nil {
		return nil, fmt.Errorf("static: max_drop needs labelled evaluation data; %q has no labels", opts.Eval.Name())
	}
	cur := m
	for _, n := range slices.Clone(acc.Nodes) {
		if *e.FloatAccuracy-*e.QuantAccuracy <= opts.MaxDrop {
			break
		}
		if slices.ContainsFunc(acc.Kept, func(k report.KeptNode) bool { return k.Name == n.Name }) {
			continue
		}
		next, err := cur.keepFloat(ctx, n.Name, "max_drop")
		if err != nil {
			return nil, err
		}
		ne, err := evalOf(next)
		if err != nil {
			return nil, err
		}
		q := *ne.QuantAccuracy
		acc.Kept = append(acc.Kept, report.KeptNode{Name: n.Name, Loop: "max_drop", GainDB: ne.OutputSQNR - e.OutputSQNR, Metric: &q})
		cur, e = next, ne
	}
	acc.Metric = &report.MetricCheck{Float: *e.FloatAccuracy, Quant: *e.QuantAccuracy, MaxDrop: opts.MaxDrop}
	return cur, nil
}

// keepFloat plans m again with one more node in the skip list.
func (m *Plan) keepFloat(ctx context.Context, node, loop string) (*Plan, error) {
	opts := m.opts
	opts.Skip = append(slices.Clone(opts.Skip), node)
	next, err := PlanQDQ(ctx, m.src, m.cal, opts)
	if err != nil {
		return nil, err
	}
	next.weights = m.weights
	for i, l := range next.layers {
		if l.Name == node {
			next.layers[i].reason = "kept in float by " + loop
			next.layers[i].report.Reason = next.layers[i].reason
		}
	}
	return next, nil
}

// warnings are the check's findings, for the report.
func (ch *checker) warnings(acc *report.Accuracy, m *Plan) []string {
	var out []string
	if acc.OutputSQNR < WarnOutputSQNR {
		var worst []string
		for i, n := range acc.Nodes {
			if i == 3 {
				break
			}
			worst = append(worst, fmt.Sprintf("%q (%s dB alone, input %q range [%.4g, %.4g])", n.Name, db(n.SQNR), n.Activation, n.Min, n.Max))
		}
		msg := fmt.Sprintf("output SQNR %s dB on %d calibration samples is below %.0f dB: the quantized model's outputs are damaged", db(acc.OutputSQNR), acc.Samples, WarnOutputSQNR)
		if len(worst) > 0 {
			msg += "; worst nodes: " + strings.Join(worst, ", ") + " (min_sqnr= keeps them in float)"
		}
		out = append(out, msg)
	}
	quantized := 0
	for _, l := range m.layers {
		if l.quantized {
			quantized++
		}
	}
	for _, n := range acc.Nodes {
		if quantized > 1 && n.CostDB > WarnNodeCost && acc.OutputSQNR < WarnNodeCostUnder && !kept(acc, n.Name) {
			out = append(out, fmt.Sprintf("node %q alone costs about %.1f dB of output SQNR (%s dB when only it is quantized); its input %q has range [%.4g, %.4g]",
				n.Name, n.CostDB, db(n.SQNR), n.Activation, n.Min, n.Max))
		}
	}
	names := make([]string, 0, len(ch.zeroes))
	for name := range ch.zeroes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		z := ch.zeroes[name]
		if z.quant > z.float {
			out = append(out, fmt.Sprintf("%d values that feed %s node %q (input %q, float range [%.4g, %.4g]) are 0 after quantization but not in float: %s; keep the nodes computing %q in float (skip=)",
				(z.quant-z.float)/max(1, len(ch.feeds)), z.op, name, z.input, z.lo, z.hi, zeroEffect(z.op), z.input))
		}
	}
	return out
}

func kept(acc *report.Accuracy, name string) bool {
	return slices.ContainsFunc(acc.Kept, func(k report.KeptNode) bool { return k.Name == name })
}

func zeroEffect(op string) string {
	switch op {
	case "Log":
		return "log(0) is -inf"
	case "Div", "Reciprocal":
		return "division by 0"
	case "Sqrt":
		return "sqrt(0) is 0, and a division by it downstream is inf"
	}
	return "0 to a negative power is inf"
}

func db(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return fmt.Sprintf("%.1f", v)
}

// withCheck returns a copy of m (a new Plan: its QDQ proto is built again on demand)
// carrying the accuracy check.
func (m *Plan) withCheck(acc *report.Accuracy, warnings []string) *Plan {
	return &Plan{src: m.src, norm: m.norm, cal: m.cal, opts: m.opts, scheme: m.scheme, plan: m.plan,
		layers: m.layers, other: m.other, weights: m.weights, acc: acc, accWarnings: warnings}
}
