package static

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/quantize"
)

// ErrNotONNX is returned by Prepare for a model that is not an ONNX file: static
// quantization runs the model's graph.
var ErrNotONNX = errors.New("static: static quantization needs an ONNX model (it runs the graph)")

// Prepared is static quantization set up from package quantize's options, before
// calibration: the weight plan (which layers are quantized, and how) and the static
// Options derived from it. Prepared.Plan finishes the job once the activations are
// calibrated. Prepare and Plan are split so that every option is checked, and every
// layer predicate has run, before the calibration, which is the slow part.
type Prepared struct {
	file    *onnx.File
	weights *quantize.WeightPlan

	// Options are what Plan passes to the QDQ planner: weights and numerics from
	// quantize's options, Skip listing the layers the weight plan leaves in float, and
	// Version. Set Input (the model's name in the report) and Metadata here before
	// calling Plan.
	Options Options

	mu   sync.Mutex
	done bool
}

// Prepare checks quantize's options for static quantization of src (an *onnx.File, or
// a *formats.File holding one) and plans its weights with quantize.PlanWeights: layers,
// include and skip choose the layers (predicates run here, once per layer), and the
// weights must be 8-bit integers per channel or per tensor (weights.dtype "int8" or
// "uint8", no group_size). Weights that Constant nodes compute are folded into initializers first
// (FoldWeights), and a model below opset 13 is checked to upgrade (every node that cannot
// is named in the error), so that nothing fails after the calibration. No weight is
// quantized and no graph is run but the constant subgraphs'.
func Prepare(ctx context.Context, src formats.Model, opts quantize.Options) (*Prepared, error) {
	f, ok := formats.ONNXFile(src)
	if !ok {
		return nil, ErrNotONNX
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkStaticWeights(opts.Weights); err != nil {
		return nil, err
	}
	// Constant weights become initializers before the layers are listed, and a model of an
	// old opset is upgraded now: a node that cannot be is an error before calibration.
	norm, err := normalize(ctx, f)
	if err != nil {
		return nil, err
	}
	f = norm.file
	weights, err := quantize.PlanWeights(ctx, f, opts)
	if err != nil {
		return nil, err
	}
	// The nodes the weight plan leaves in float stay float in the QDQ model too, so the
	// selection (and its predicates) is decided once, by package quantize.
	var skip []string
	for _, d := range weights.Decisions() {
		if !d.Selected {
			skip = append(skip, d.Layer.Name)
		}
	}
	so := DefaultOptions()
	so.Weights = opts.Weights
	so.Numerics = opts.Numerics
	so.Skip = skip
	so.Version = opts.Version
	return &Prepared{file: f, weights: weights, Options: so}, nil
}

// checkStaticWeights refuses weight options that QDQ cannot hold. The messages name the
// option keys of the Lua bindings, as quantize's own errors do.
func checkStaticWeights(w quantize.WeightOptions) error {
	if w.DType != quantize.DTypeInt8 && w.DType != quantize.DTypeUInt8 {
		return fmt.Errorf("option 'weights.dtype': static ONNX quantization writes int8 or uint8 weights, not %s", w.DType)
	}
	if w.GroupSize > 0 {
		return fmt.Errorf("option 'weights.group_size': static ONNX quantization is per channel or per tensor")
	}
	return nil
}

// File returns the ONNX file being quantized, its constant weights folded into
// initializers (FoldWeights): calibrate the graph of this file.
func (p *Prepared) File() *onnx.File { return p.file }

// Plan plans the QDQ model of the prepared layers with cal's activation qparams
// (PlanQDQ(ctx, p.File(), cal, p.Options)) and completes the weight plan with each
// quantized layer's input qparams and the calibration's sample count, so that
// Plan.Weights().Save writes a compressed-tensors checkpoint with input_scale. It may be
// called once: the weight plan it completes is shared with the returned Plan.
func (p *Prepared) Plan(ctx context.Context, cal *calib.Result) (*Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, fmt.Errorf("static: Prepared.Plan called twice; Prepare again for another calibration")
	}
	m, err := PlanQDQ(ctx, p.file, cal, p.Options)
	if err != nil {
		return nil, err
	}
	for layer, q := range m.InputQParams() {
		if err := p.weights.SetInputQParams(layer, q); err != nil {
			return nil, err
		}
	}
	p.weights.SetCalibrationSamples(cal.Samples)
	p.done = true
	m.weights = p.weights
	return m, nil
}
