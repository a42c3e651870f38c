package static

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/formats/onnx/qdq"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// Plan is a planned static quantization of an ONNX model: the weight codes and qparams
// of every quantized node and the calibrated activation qparams. It is immutable and
// safe for concurrent use; the source file must stay open while it is used.
type Plan struct {
	src    *onnx.File // with its constant weights folded (FoldWeights)
	norm   *source
	cal    *calib.Result
	opts   Options
	scheme quant.Scheme // weights
	plan   *qdq.Plan
	layers []plannedLayer
	other  int64 // bytes of initializers outside every layer
	// weights is the compressed-tensors form of the same plan (Prepared.Plan), or nil.
	weights *quantize.WeightPlan
	// acc and accWarnings are the accuracy check (Check), or nil.
	acc         *report.Accuracy
	accWarnings []string
	// shared holds, while planning, the first quantization of each weight initializer, so
	// that layers sharing a weight (torch stores it once) quantize it once, identically.
	shared map[string]sharedWeight

	once  sync.Once
	proto *onnxpb.ModelProto
	err   error

	mu     sync.Mutex
	output string // the last path Save wrote, for the report
}

type sharedWeight struct {
	layer string
	gran  quant.Granularity
	codes *tensor.Tensor
	qp    *quant.QParams
	err   quant.Errors
}

type plannedLayer struct {
	layer.Layer
	quantized bool
	reason    string
	report    report.Layer
	input     *quant.QParams
}

// PlanQDQ plans the static quantization of f with the activation qparams of cal.
// Every Conv, Gemm and MatMul node is quantized unless opts.Skip names it or it cannot be
// (its input 0 is a constant, or its weight is not float32); each node's activations
// must have been calibrated.
func PlanQDQ(ctx context.Context, f *onnx.File, cal *calib.Result, opts Options) (*Plan, error) {
	if cal == nil {
		return nil, fmt.Errorf("static: no calibration")
	}
	s, err := weightScheme(opts.Weights, opts.Numerics)
	if err != nil {
		return nil, err
	}
	norm, err := normalize(ctx, f)
	if err != nil {
		return nil, err
	}
	f = norm.file
	layers := layer.Nodes(f)
	skip, err := skipped(layers, opts.Skip)
	if err != nil {
		return nil, err
	}
	m := &Plan{src: f, norm: norm, cal: cal, opts: opts, scheme: s, shared: map[string]sharedWeight{},
		plan: &qdq.Plan{Nodes: map[string]qdq.NodePlan{}, Activations: cal.QParams(), Dir: f.Dir()}}
	nodes := map[string]*onnxpb.NodeProto{}
	for _, n := range onnx.Nodes(f.Proto().GetGraph()) {
		nodes[n.GetName()] = n
	}
	owned := map[string]bool{}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pl, err := m.planLayer(l, nodes[l.Name], skip)
		if err != nil {
			return nil, fmt.Errorf("static: node %q (%s): %w", l.Name, l.Type, err)
		}
		m.layers = append(m.layers, pl)
		owned[l.Weight], owned[l.Bias] = true, true
	}
	for _, info := range f.Tensors() {
		if !owned[info.Name] {
			n, _ := tensor.Numel(info.Shape)
			m.other += int64(n * info.DType.Size())
		}
	}
	m.plan.Record, err = m.record()
	if err != nil {
		return nil, err
	}
	m.plan.Metadata = opts.Metadata
	m.shared = nil
	return m, nil
}

func (m *Plan) planLayer(l layer.Layer, node *onnxpb.NodeProto, skip map[string]string) (plannedLayer, error) {
	pl := plannedLayer{Layer: l, reason: skipReason(l, skip)}
	pl.report = report.Layer{Name: l.Name, Type: l.Type, Shape: l.Shape, DType: l.DType.String()}
	if l.WeightIsActivation {
		pl.report.DType = "activation"
	}
	w, err := m.loadWeight(l)
	if err != nil {
		return pl, err
	}
	pl.report.BytesBefore = m.bytesOf(l.Weight) + m.bytesOf(l.Bias)
	if w != nil {
		pl.report.Histogram = report.NewHistogram(w.ToF32(), report.DefaultBins)
	}
	if pl.reason == "" {
		if pl.reason, err = m.uncalibrated(l); err != nil {
			return pl, err
		}
	}
	if pl.reason != "" {
		return m.leaveFloat(pl), nil
	}
	in, _ := m.cal.Activation(l.Input)
	if w == nil { // a MatMul of two activations: nothing stored
		pl.input, pl.quantized, pl.report.Quantized = in.QParams, true, true
		pl.report.NoWeight = true
		pl.report.Granularity = "per_tensor"
		pl.report.QDType = qdtype(m.cal.Scheme.QType)
		m.plan.Nodes[l.Name] = qdq.NodePlan{}
		return pl, nil
	}
	gran := quant.PerTensor()
	if m.opts.Weights.PerChannel {
		axis, err := layer.WeightAxis(node, len(l.Shape))
		if err != nil {
			return pl, err
		}
		gran = quant.PerChannel(axis)
	}
	first, err := m.sharedCodes(l, w, gran)
	if err != nil {
		return pl, err
	}
	if first.gran != gran {
		// One initializer holds one set of codes: a second reader whose output channels
		// lie on another axis (a Gemm with the other transB, say) stays float.
		pl.reason = fmt.Sprintf("weight %q is shared with %q, quantized along another axis", l.Weight, first.layer)
		return m.leaveFloat(pl), nil
	}
	pl.input, pl.quantized, pl.report.Quantized = in.QParams, true, true
	pl.report.QDType = m.opts.Weights.DType
	if pl.report.QDType == "" {
		pl.report.QDType = "int8"
	}
	m.reportWeight(&pl.report, l, first)
	m.plan.Nodes[l.Name] = qdq.NodePlan{Weight: first.qp, Codes: first.codes}
	return pl, nil
}

// skipReason is why l stays float whatever calibration saw, or "".
func skipReason(l layer.Layer, skip map[string]string) string {
	switch {
	case skip[l.Name] != "":
		return "skip list (" + skip[l.Name] + ")"
	case l.InputIsConstant:
		return "input 0 is a constant"
	case l.WeightInSubgraph:
		return "weight is an initializer of its subgraph; only main-graph weights are quantized"
	case !l.WeightIsActivation && l.DType != tensor.F32:
		return fmt.Sprintf("weight is %v, not F32", l.DType)
	}
	return ""
}

// uncalibrated is why l stays float because calibration never ran it, or "", or an error
// when an activation it reads was not calibrated at all.
func (m *Plan) uncalibrated(l layer.Layer) (string, error) {
	if slices.Contains(m.cal.NeverRan, l.Name) {
		// An If branch no calibration sample took: its inputs' ranges, if any, were seen
		// elsewhere, never what this node reads.
		return "never ran during calibration (an If branch no sample took)", nil
	}
	for _, act := range []string{l.Input, l.Weight} {
		if act == l.Weight && !l.WeightIsActivation {
			continue
		}
		if slices.Contains(m.cal.NotRun, act) {
			return fmt.Sprintf("never ran during calibration (input %q was not computed: an If branch no sample took)", act), nil
		}
		if _, ok := m.cal.Activation(act); !ok {
			return "", fmt.Errorf("activation %q was not calibrated; calibrate it (calib.Options.Targets) or skip the node", act)
		}
	}
	return "", nil
}

// leaveFloat records pl, with its reason, as a node left in float.
func (m *Plan) leaveFloat(pl plannedLayer) plannedLayer {
	pl.report.Reason = pl.reason
	pl.report.BytesAfter = pl.report.BytesBefore
	m.plan.Nodes[pl.Layer.Name] = qdq.NodePlan{Skip: true}
	return pl
}

// sharedCodes quantizes weight w of l along gran, or returns the codes of the first layer
// that read the same initializer (whose granularity the caller compares).
func (m *Plan) sharedCodes(l layer.Layer, w *tensor.Tensor, gran quant.Granularity) (sharedWeight, error) {
	if first, ok := m.shared[l.Weight]; ok {
		return first, nil
	}
	first := sharedWeight{layer: l.Name, gran: gran}
	var err error
	if first.codes, first.qp, err = quant.ChooseAndQuantize(w, m.scheme, gran); err != nil {
		return first, fmt.Errorf("weight %q: %w", l.Weight, err)
	}
	deq, err := quant.Dequantize(first.codes, first.qp)
	if err != nil {
		return first, fmt.Errorf("weight %q: %w", l.Weight, err)
	}
	if first.err, err = quant.Compare(w.ToF32(), deq.ToF32()); err != nil {
		return first, err
	}
	m.shared[l.Weight] = first
	return first, nil
}

// reportWeight fills r with the error, scales and stored size of the codes of w.
func (m *Plan) reportWeight(r *report.Layer, l layer.Layer, w sharedWeight) {
	codes, qp, e := w.codes, w.qp, w.err
	r.Granularity = granularityLabel(w.gran)
	r.SQNR, r.MSE, r.MaxAbsErr, r.Cosine = e.SQNR, e.MSE, e.MaxAbs, e.Cosine
	r.ScaleMin, r.ScaleMax = float64(qp.Scale[0]), float64(qp.Scale[0])
	for _, sc := range qp.Scale {
		r.ScaleMin, r.ScaleMax = min(r.ScaleMin, float64(sc)), max(r.ScaleMax, float64(sc))
	}
	// What Export writes: 1-byte codes, a float32 scale and a 1-byte zero point per
	// channel; an int32 bias (the float bias's size) with float32 scales and int32 zero
	// points per channel.
	channels := int64(len(qp.Scale))
	r.BytesAfter = int64(codes.Numel()) + 5*channels
	if l.Bias != "" {
		r.BytesAfter += m.bytesOf(l.Bias) + 8*channels
	}
}

func (m *Plan) loadWeight(l layer.Layer) (*tensor.Tensor, error) {
	if l.WeightIsActivation || l.DType != tensor.F32 {
		return nil, nil
	}
	w, err := m.src.Load(l.Weight)
	if err != nil {
		return nil, fmt.Errorf("weight %q: %w", l.Weight, err)
	}
	return w.Contiguous(), nil
}

func (m *Plan) bytesOf(name string) int64 {
	if name == "" {
		return 0
	}
	for _, t := range m.src.Tensors() {
		if t.Name == name {
			n, _ := tensor.Numel(t.Shape)
			return int64(n * t.DType.Size())
		}
	}
	return 0
}

func granularityLabel(g quant.Granularity) string {
	if g.PerChannel {
		return fmt.Sprintf("per_channel(axis=%d)", g.Axis)
	}
	return "per_tensor"
}

func qdtype(q quant.QType) string {
	if q.Signed {
		return "int8"
	}
	return "uint8"
}

// Record is the JSON quantization record stored in metadata_props["quantization"].
type Record struct {
	Format      string            `json:"format"` // "onnx-qdq"
	Scheme      string            `json:"scheme"`
	DType       string            `json:"dtype"`
	Granularity string            `json:"granularity"`
	Symmetric   bool              `json:"symmetric"`
	Activations RecordActivations `json:"activations"`
	Observer    string            `json:"observer"`
	Samples     int               `json:"calibration_samples"`
	Numerics    string            `json:"numerics"`
	Quantized   []string          `json:"layers_quantized"`
	Skipped     []string          `json:"layers_skipped"`
	Version     string            `json:"qscript_version"`
	// UpgradedFrom is the opset of the source model when it was below 13.
	UpgradedFrom int64 `json:"upgraded_from_opset,omitempty"`
	// Folded lists the weights that Constant subgraphs computed (FoldWeights).
	Folded []string `json:"folded_weights,omitempty"`
}

// RecordActivations describes the activation quantization in the record.
type RecordActivations struct {
	DType     string `json:"dtype"`
	Symmetric bool   `json:"symmetric"`
	Observer  string `json:"observer"`
	Numerics  string `json:"numerics"`
}

func (m *Plan) record() (string, error) {
	r := Record{Format: "onnx-qdq", Scheme: m.Scheme(), DType: qdtype(m.scheme.QType),
		Granularity: granularity(m.opts.Weights), Symmetric: m.scheme.Symmetric,
		Activations: RecordActivations{DType: qdtype(m.cal.Scheme.QType), Symmetric: m.cal.Scheme.Symmetric,
			Observer: m.cal.Observer, Numerics: m.cal.Scheme.Numerics.String()},
		Observer: m.cal.Observer, Samples: m.cal.Samples, Numerics: m.scheme.Numerics.String(),
		Quantized: []string{}, Skipped: []string{}, Version: m.opts.Version,
		UpgradedFrom: m.norm.upgraded, Folded: m.norm.folded}
	if r.Version == "" {
		r.Version = "dev"
	}
	for _, l := range m.layers {
		if l.quantized {
			r.Quantized = append(r.Quantized, l.Name)
		} else {
			r.Skipped = append(r.Skipped, l.Name)
		}
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// Scheme describes the scheme for reports: "int8 per_channel symmetric weights,
// uint8 affine activations (histogram, 150 samples, torch numerics)".
func (m *Plan) Scheme() string {
	sym := "affine"
	if m.scheme.Symmetric {
		sym = "symmetric"
	}
	asym := "affine"
	if m.cal.Scheme.Symmetric {
		asym = "symmetric"
	}
	return fmt.Sprintf("static %s %s %s weights, %s %s activations (%s, %d samples, %s numerics)",
		qdtype(m.scheme.QType), granularity(m.opts.Weights), sym, qdtype(m.cal.Scheme.QType), asym,
		m.cal.Observer, m.cal.Samples, m.scheme.Numerics)
}

// QDQ returns the QDQ plan (shared: do not modify).
func (m *Plan) QDQ() *qdq.Plan { return m.plan }

// Quantized lists the quantized layers, in model order.
func (m *Plan) Quantized() []layer.Layer { return m.filter(true) }

// Skipped lists the layers left in float, in model order.
func (m *Plan) Skipped() []layer.Layer { return m.filter(false) }

func (m *Plan) filter(q bool) []layer.Layer {
	var out []layer.Layer
	for _, l := range m.layers {
		if l.quantized == q {
			out = append(out, l.Layer)
		}
	}
	return out
}

// InputQParams returns the qparams of each quantized layer's input activation by layer
// name: the compressed-tensors input_scale (and zero point) of a static safetensors
// export (quantize.WeightPlan.SetInputQParams takes them). A MatMul of two activations (an
// attention score) is left out: it has no weight tensor, so no layer of the
// compressed-tensors checkpoint carries its input scale.
func (m *Plan) InputQParams() map[string]*quant.QParams {
	out := map[string]*quant.QParams{}
	for _, l := range m.layers {
		if l.quantized && !l.WeightIsActivation {
			out[l.Name] = l.input
		}
	}
	return out
}

// Proto returns the QDQ model (built once, shared: do not modify).
func (m *Plan) Proto() (*onnxpb.ModelProto, error) {
	m.once.Do(func() {
		m.proto, m.err = qdq.Export(m.norm.base, m.plan)
		if m.err != nil {
			m.err = fmt.Errorf("static: %w", m.err)
		}
	})
	return m.proto, m.err
}

// Graph loads the QDQ model into the executor, for Evaluate.
func (m *Plan) Graph() (*graph.Graph, error) {
	p, err := m.Proto()
	if err != nil {
		return nil, err
	}
	return graph.Load(p, graph.Options{External: graph.ExternalIn(m.src.Dir())})
}

// Weights returns the same quantization as a weight plan of package quantize, whose
// Save writes the compressed-tensors safetensors or .pt checkpoint with each layer's
// input_scale: set for a Plan made by Prepared.Plan, nil for one
// made by PlanQDQ. The plan is shared: do not call its SetInputQParams.
func (m *Plan) Weights() *quantize.WeightPlan { return m.weights }

// Save writes the QDQ model to path (.onnx), atomically; external data of the source
// is copied, never referenced. metadata, when not empty, is added to Options.Metadata in
// metadata_props, replacing entries of the same key ("quantization" stays the record):
// the weights are not planned again, only the ONNX model is rebuilt around it.
func (m *Plan) Save(ctx context.Context, path string, metadata map[string]string) error {
	if len(metadata) == 0 {
		p, err := m.Proto()
		if err != nil {
			return err
		}
		return m.write(ctx, path, p)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	plan := *m.plan
	plan.Metadata = maps.Clone(m.opts.Metadata)
	if plan.Metadata == nil {
		plan.Metadata = map[string]string{}
	}
	maps.Copy(plan.Metadata, metadata)
	p, err := qdq.Export(m.norm.base, &plan)
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	return m.write(ctx, path, p)
}

func (m *Plan) write(ctx context.Context, path string, p *onnxpb.ModelProto) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wo := onnx.DefaultWriteOptions()
	wo.SourceDir = m.src.Dir()
	if err := onnx.Write(path, p, &wo); err != nil {
		return fmt.Errorf("static: %w", err)
	}
	m.mu.Lock()
	m.output = path
	m.mu.Unlock()
	return nil
}

// Report returns a new report, the caller's to modify: per-layer weight errors, the
// ranges and qparams of the activations the output quantizes (those read by quantized
// layers), the calibration's warnings, and the path of the last Save (a
// checkpoint written through Weights().Save is not one of them). Set Eval on it when it
// is known.
func (m *Plan) Report() *report.Report {
	r := &report.Report{Title: "int8_static", Input: m.opts.Input, Scheme: m.Scheme(), OtherBytes: m.other,
		Activations: m.quantizedActivations(), Warnings: append(slices.Clone(m.cal.Warnings), m.accWarnings...), Accuracy: m.acc}
	if m.opts.Input != "" {
		r.Title += ": " + m.opts.Input
	}
	m.mu.Lock()
	r.Output = m.output
	m.mu.Unlock()
	for _, l := range m.layers {
		r.Layers = append(r.Layers, l.report)
	}
	r.Finish()
	return r.Clone() // the rows' shapes and histograms are the plan's own
}

// quantizedActivations is the calibration's report rows for the activations that quantized
// layers read; an activation only skipped layers read stays float in the output.
func (m *Plan) quantizedActivations() []report.Activation {
	read := map[string]bool{}
	for _, l := range m.layers {
		if l.quantized {
			read[l.Input] = true
			if l.WeightIsActivation {
				read[l.Weight] = true
			}
		}
	}
	var out []report.Activation
	for _, a := range m.cal.ReportActivations() {
		if read[a.Name] {
			out = append(out, a)
		}
	}
	return out
}
