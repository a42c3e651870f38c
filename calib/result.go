package calib

import (
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
)

// Result is a finished calibration. It is immutable: share it freely (cache it), and
// copy before changing anything taken from it.
type Result struct {
	// Observer and Scheme are the options the ranges were computed with.
	Observer string
	Scheme   quant.Scheme
	// Samples is the number of samples actually run; Asked is the number requested
	// (-1: all the data).
	Samples, Asked int
	// BatchSize is the number of samples per graph run.
	BatchSize int
	// Source names the data.
	Source string
	// Activations are the observed tensors, in the order the graph first reads them.
	Activations []Activation
	// Warnings are the warnings given during calibration (also sent to Options.Warn).
	Warnings []string
	// NotRun lists the targets inside If or Loop subgraphs that no calibration run
	// computed (an If branch no sample took): they have no range, and their readers stay
	// float.
	NotRun []string
	// NeverRan lists the Conv, Gemm and MatMul nodes inside If or Loop subgraphs that no
	// calibration run executed (also named in Warnings): static quantization leaves them
	// float, having seen nothing of what they compute.
	NeverRan []string

	index map[string]int
}

// Activation is one observed activation tensor.
type Activation struct {
	Name string
	// Consumers are the quantizable nodes that read it.
	Consumers []string
	// Min and Max are the observer's running range: the extremes of the data seen (for the
	// histogram observer, the edges of its histogram, which can be a little wider).
	Min, Max float32
	// ClipMin and ClipMax are the range the observer chose (narrower than Min, Max for
	// histogram, percentile, entropy and mse), before it is widened to include 0.
	ClipMin, ClipMax float32
	// QParams are per tensor, for Result.Scheme.
	QParams *quant.QParams
	// Histogram of the values seen, for the report.
	Histogram *report.Histogram
}

// Activation returns the calibration of the tensor name.
func (r *Result) Activation(name string) (Activation, bool) {
	i, ok := r.index[name]
	if !ok {
		return Activation{}, false
	}
	return r.Activations[i], true
}

// QParams returns the activation qparams by tensor name, as qdq.Plan.Activations wants
// them. The map is new; the QParams are shared and must not be modified.
func (r *Result) QParams() map[string]*quant.QParams {
	out := make(map[string]*quant.QParams, len(r.Activations))
	for _, a := range r.Activations {
		out[a.Name] = a.QParams
	}
	return out
}

// ReportActivations returns the activations as the report lists them.
func (r *Result) ReportActivations() []report.Activation {
	out := make([]report.Activation, len(r.Activations))
	for i, a := range r.Activations {
		out[i] = report.Activation{
			Name:      a.Name,
			Observer:  ObserverLabel(r.Observer),
			Min:       float64(min(a.Min, 0)),
			Max:       float64(max(a.Max, 0)),
			Scale:     float64(a.QParams.Scale[0]),
			ZeroPoint: a.QParams.ZeroPoint[0],
			QDType:    qdtypeName(r.Scheme.QType),
			Histogram: a.Histogram,
		}
	}
	return out
}

// ObserverLabel is the observer's name in reports: "histogram(l2)" for torch's
// HistogramObserver, whose range search minimizes the L2 error.
func ObserverLabel(kind string) string {
	if kind == "histogram" {
		return "histogram(l2)"
	}
	return kind
}

func qdtypeName(q quant.QType) string {
	if q.Signed {
		return "int8"
	}
	return "uint8"
}
