package quantize

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// WeightPlan is a planned weight-only quantization of a source model. It holds no
// quantized data: Report and Save read the source tensor by tensor when called. The
// source must stay open while the plan is used; it is never modified. A WeightPlan is
// safe for concurrent use; its methods serialize on a lock.
type WeightPlan struct {
	src     formats.Model
	srcPath string // the source's path when known (for config.json), else ""
	opts    Options
	ws      weightScheme

	decisions []layer.Decision
	infos     []tensor.Info          // the source's tensors, in its order
	byTensor  map[string]*tensorRole // weight and bias tensors of layers

	mu       sync.Mutex
	inputQ   map[string]*quant.QParams // static activation qparams by layer name
	codesMu  sync.RWMutex              // guards codes (the save reads it while q.mu is held)
	codes    map[string]Codes          // codes chosen outside (SetCodes) by weight name
	samples  int
	warnings []string
	report   *report.Report // cached by Report
	output   string         // last path saved
	progress *progress      // the running Save's progress callback
}

// tensorRole ties a tensor to its layer.
type tensorRole struct {
	decision *layer.Decision
	isBias   bool
}

// PlanWeights plans the quantization of m with opts: it validates the options, finds the
// layers (layer.List) and decides which are quantized (layer.Select), without reading tensor
// data. Layers that cannot take the scheme (for example int4 on an ONNX MatMul weight
// stored [in, out]) stay in float with the reason in the report and a warning. Errors in
// the data itself (a NaN in a weight) appear in Report and Save, which read it.
//
// A Hugging Face causal LM (a config.json beside the checkpoint whose architectures end in
// ForCausalLM) keeps its output head in float by default, with the reason in the report
// (OutputHead); naming it in include quantizes it. Casts (fp16, bf16) cast it as well.
func PlanWeights(ctx context.Context, m formats.Model, opts Options) (*WeightPlan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ws, err := newWeightScheme(opts)
	if err != nil {
		return nil, err
	}
	layers, err := layer.List(m, opts.LayerTypes)
	if err != nil {
		return nil, err
	}
	sel := opts.Selection
	if ws.kind == kindCast {
		// A cast applies to every floating tensor (SPEC §4): only skip and include keep
		// a layer's tensors in their dtype.
		sel.Types = layer.Types
	}
	var headWarning string
	if ws.kind != kindCast {
		// A causal LM's output head stays in full precision unless asked for by name; a
		// cast changes the whole model's dtype, head included, as serving it does.
		var protect []layer.Protected
		protect, headWarning = OutputHead(m, layers)
		sel.Protect = append(slices.Clone(sel.Protect), protect...)
	}
	decisions, err := layer.Select(layers, sel)
	if err != nil {
		return nil, err
	}
	q := &WeightPlan{src: m, opts: opts, ws: ws, decisions: decisions, infos: m.Tensors(),
		byTensor: map[string]*tensorRole{}, inputQ: map[string]*quant.QParams{}}
	if f, ok := m.(*formats.File); ok {
		q.srcPath = f.Path
	}
	if headWarning != "" {
		q.warnings = append(q.warnings, headWarning)
	}
	for i := range q.decisions {
		d := &q.decisions[i]
		if d.Selected {
			if why := ws.unsupported(d.Layer); why != "" {
				d.Selected, d.Reason = false, why
				q.warnings = append(q.warnings, fmt.Sprintf("layer %s stays in float: %s", d.Layer.Name, why))
			}
		}
		q.byTensor[d.Layer.Weight] = &tensorRole{decision: d}
		if d.Layer.Bias != "" {
			q.byTensor[d.Layer.Bias] = &tensorRole{decision: d, isBias: true}
		}
	}
	return q, nil
}

// Source returns the model being quantized.
func (q *WeightPlan) Source() formats.Model { return q.src }

// Options returns the options the model was planned with.
func (q *WeightPlan) Options() Options { return q.opts }

// Decisions returns every layer with whether it is quantized and, if not, why.
func (q *WeightPlan) Decisions() []layer.Decision { return slices.Clone(q.decisions) }

// Quantized returns the layers that are quantized, in model order.
func (q *WeightPlan) Quantized() []layer.Layer {
	var out []layer.Layer
	for _, d := range q.decisions {
		if d.Selected {
			out = append(out, d.Layer)
		}
	}
	return out
}

// Scheme describes the weight scheme in words (the report's Scheme line).
func (q *WeightPlan) Scheme() string { return q.ws.String() }

// Warnings returns what the plan and the saves had to say (layers left in float for
// lack of support, a config.json not written, ...). They also appear in the report.
func (q *WeightPlan) Warnings() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.warnings)
}

func (q *WeightPlan) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(q.warnings, msg) {
		q.warnings = append(q.warnings, msg)
	}
	if q.report != nil && !slices.Contains(q.report.Warnings, msg) {
		q.report.Warnings = append(q.report.Warnings, msg)
	}
}

// SetInputQParams attaches static activation qparams to a quantized layer's input
// (per tensor: one scale and zero point). The compressed layout then writes
// `<layer>.input_scale` [1] and, for an asymmetric scheme, `<layer>.input_zero_point`
// [1] (uint8 zero points stored as int8, shifted by 128), and the quantization_config
// gains input_activations. A nil p removes them. The calibration package calls this.
func (q *WeightPlan) SetInputQParams(name string, p *quant.QParams) error {
	i := slices.IndexFunc(q.decisions, func(d layer.Decision) bool { return d.Layer.Name == name })
	if i < 0 {
		return layer.UnknownName("input qparams", name, false, q.layerList())
	}
	if !q.decisions[i].Selected || q.ws.kind != kindInt {
		return fmt.Errorf("input qparams: layer %q is not quantized to integers", name)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if p == nil {
		delete(q.inputQ, name)
		return nil
	}
	if len(p.Scale) != 1 || len(p.ZeroPoint) != 1 {
		return fmt.Errorf("input qparams of %q: want one scale and zero point (per tensor), have %d", name, len(p.Scale))
	}
	if q.ws.scheme.QType.Bits != 8 || p.Scheme.QType.Bits != 8 {
		return fmt.Errorf("input qparams of %q: static activations need 8-bit weights and activations", name)
	}
	if err := p.Scheme.Validate(); err != nil {
		return fmt.Errorf("input qparams of %q: %w", name, err)
	}
	cp := *p
	cp.Scale, cp.ZeroPoint = slices.Clone(p.Scale), slices.Clone(p.ZeroPoint)
	q.inputQ[name] = &cp
	q.report = nil
	return nil
}

// SetCalibrationSamples records how many samples calibrated the activations, for the
// quantization record.
func (q *WeightPlan) SetCalibrationSamples(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.samples = n
}

func (q *WeightPlan) layerList() []layer.Layer {
	out := make([]layer.Layer, len(q.decisions))
	for i, d := range q.decisions {
		out[i] = d.Layer
	}
	return out
}
