package plan

import (
	"context"
	"slices"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/static"
)

// Plan is a planned quantization of a model. It holds no quantized data: Report and Save
// read the source when called.
type Plan interface {
	// Decisions lists every layer with whether it is quantized and, if not, why.
	Decisions() []layer.Decision
	// Scheme describes the scheme in words (the report's Scheme line).
	Scheme() string
	// Schemes maps each quantized layer to its scheme: mixed precision is this one map
	// (a compressed-tensors folder's config groups, a GGUF file's per-tensor types); a
	// layer that is not in it stays in float.
	Schemes() map[string]string
	// Warnings are what the plan and its last save had to say.
	Warnings() []string
	// Report is the plan's report (for a weight-only ONNX output, what that output holds).
	Report(ctx context.Context) (*report.Report, error)
	// Save writes the plan to path with the writer of its format (see Save).
	Save(ctx context.Context, path string, o SaveOptions) error
	// input is the path of the model the plan quantizes, which Save never replaces.
	input() string
}

// weighted is a plan with a weight plan of the same layers: what safetensors and .pt
// outputs write (a static plan's with each layer's input_scale).
type weighted interface {
	Plan
	Weights() *quantize.WeightPlan
}

var (
	_ weighted = (*WeightOnly)(nil)
	_ weighted = (*Static)(nil)
	_ Plan     = (*Folder)(nil)
	_ Plan     = (*GGUF)(nil)
)

// inputPath is the path of a loaded input model ("" when there is none).
func inputPath(f *formats.File) string {
	if f == nil {
		return ""
	}
	return f.Path
}

// WeightOnly is a weight-only plan of a loaded model: safetensors and .pt outputs, and for
// an ONNX model ONNX Runtime's form of its scheme.
type WeightOnly struct {
	*quantize.WeightPlan
	// Input is the model being quantized; InputName is how the user named it (messages).
	Input     *formats.File
	InputName string
	// written is the report of the last weight-only ONNX output: what the ONNX form
	// holds, which can differ from the plan's (Gemm stays float under dynamic int8, int4
	// applies to MatMul). A safetensors or .pt save clears it.
	written *report.Report
}

func (w *WeightOnly) input() string { return inputPath(w.Input) }

// Schemes gives every quantized layer the plan's scheme.
func (w *WeightOnly) Schemes() map[string]string {
	out := map[string]string{}
	for _, l := range w.Quantized() {
		out[l.Name] = w.Scheme()
	}
	return out
}

// Weights returns the weight plan itself.
func (w *WeightOnly) Weights() *quantize.WeightPlan { return w.WeightPlan }

// Warnings are the plan's, or after a weight-only ONNX output, that output's (the plan's
// are about its safetensors layout).
func (w *WeightOnly) Warnings() []string {
	if w.written != nil {
		return slices.Clone(w.written.Warnings)
	}
	return w.WeightPlan.Warnings()
}

// Report is the plan's report, or after a weight-only ONNX output, that output's.
func (w *WeightOnly) Report(ctx context.Context) (*report.Report, error) {
	if w.written != nil {
		return w.written.Clone(), nil
	}
	return w.WeightPlan.Report(ctx)
}

// Save writes the plan to path (see Save).
func (w *WeightOnly) Save(ctx context.Context, path string, o SaveOptions) error {
	return Save(ctx, w, path, o)
}

// Static is a static (calibrated) plan of an ONNX model, made by static.Prepared.Plan: QDQ
// .onnx outputs, and safetensors or .pt through its Weights.
type Static struct {
	*static.Plan
	// Input is the ONNX model being quantized (a *formats.File holding an *onnx.File).
	Input *formats.File
	// Eval is the evaluation on held-out data once it has run (the report's eval).
	Eval *report.Eval
}

func (s *Static) input() string { return inputPath(s.Input) }

// Schemes gives every layer the QDQ model quantizes the weight scheme; the layers it keeps
// in float (skipped, or kept by an accuracy check, which its Weights still quantize) are
// not in it.
func (s *Static) Schemes() map[string]string {
	out := map[string]string{}
	for _, l := range s.Plan.Report().Layers {
		if l.Quantized {
			out[l.Name] = s.Scheme()
		}
	}
	return out
}

// Decisions are the weight plan's: the layers the QDQ model quantizes.
func (s *Static) Decisions() []layer.Decision { return s.Weights().Decisions() }

// Warnings are the weight plan's.
func (s *Static) Warnings() []string { return s.Weights().Warnings() }

// Report is the static report, with the evaluation when there is one.
func (s *Static) Report(ctx context.Context) (*report.Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := s.Plan.Report()
	if s.Eval != nil {
		e := *s.Eval
		r.Eval = &e
	}
	return r, nil
}

// Save writes the plan to path (see Save).
func (s *Static) Save(ctx context.Context, path string, o SaveOptions) error {
	return Save(ctx, s, path, o)
}
