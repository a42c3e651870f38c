// Command report writes a sample quantization report for interop/60-report-html.sh, so the
// HTML page can be checked in a real browser before a recipe produces one. The weight
// rows are measured: the digits CNN's weights, quantized per channel to int8 the way
// torch's PerChannelMinMaxObserver does. The activation ranges and the evaluation are
// illustrative numbers, and the report says so in a warning.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/report"
)

func main() {
	model := flag.String("model", "examples/models/digits_cnn.safetensors", "digits CNN safetensors")
	htmlPath := flag.String("html", "/tmp/qscript-report.html", "HTML output")
	jsonPath := flag.String("json", "", "JSON output (optional)")
	flag.Parse()
	r, err := buildReport(*model)
	if err == nil {
		err = r.SaveHTML(*htmlPath)
	}
	if err == nil && *jsonPath != "" {
		err = r.SaveJSON(*jsonPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Print(r)
}

type layerSpec struct{ name, typ, skip string }

func buildReport(path string) (*report.Report, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &report.Report{
		Title:  "int8_static: digits_cnn (sample)",
		Input:  path,
		Output: "/tmp/digits_cnn.int8.onnx",
		Scheme: "int8 per-channel symmetric weights, uint8 affine activations (torch numerics)",
	}
	specs := []layerSpec{
		{"conv1", "Conv2d", "first_conv"}, {"bn1", "BatchNorm2d", "norm layer"},
		{"conv2", "Conv2d", ""}, {"conv3", "Conv2d", ""}, {"fc1", "Linear", ""}, {"fc2", "Linear", ""},
	}
	for _, s := range specs {
		l, err := measureLayer(f, s)
		if err != nil {
			return nil, err
		}
		r.Layers = append(r.Layers, l)
	}
	for _, info := range f.Tensors() {
		if !strings.HasSuffix(info.Name, ".weight") && !strings.HasSuffix(info.Name, ".bias") &&
			!strings.Contains(info.Name, "running_") {
			t, err := f.Load(info.Name)
			if err != nil {
				return nil, err
			}
			r.OtherBytes += int64(t.Nbytes())
		}
	}
	r.Activations = sampleActivations()
	floatAcc, quantAcc := 0.9778, 0.9750
	r.Eval = &report.Eval{Samples: 360, OutputSQNR: 31.42, Top1Agreement: 0.9972, FloatAccuracy: &floatAcc, QuantAccuracy: &quantAcc}
	r.Warnings = []string{"sample report: the weight rows are measured; the activation ranges and the evaluation are illustrative"}
	r.Finish()
	return r, nil
}

// measureLayer fills one layer from the tensors under its prefix.
func measureLayer(f *safetensors.File, s layerSpec) (report.Layer, error) {
	l := report.Layer{Name: s.name, Type: s.typ, DType: "F32"}
	var weight []float32
	for _, info := range f.Tensors() {
		if !strings.HasPrefix(info.Name, s.name+".") || strings.HasSuffix(info.Name, "num_batches_tracked") {
			continue
		}
		t, err := f.Load(info.Name)
		if err != nil {
			return l, err
		}
		l.BytesBefore += int64(t.Nbytes())
		if info.Name == s.name+".weight" {
			weight = t.ToF32()
			l.Shape = t.Shape
			l.Histogram = report.NewHistogram(weight, 64)
			l.DType = t.DType.String()
		} else {
			l.BytesAfter += int64(t.Nbytes()) // biases and norm statistics stay float
		}
	}
	if weight == nil {
		return l, fmt.Errorf("no tensor %s.weight", s.name)
	}
	if s.skip != "" || len(l.Shape) < 2 {
		l.Reason = s.skip
		l.BytesAfter = l.BytesBefore
		return l, nil
	}
	l.Quantized, l.QDType, l.Granularity = true, "int8", "per_channel(axis=0)"
	channels := l.Shape[0]
	l.BytesAfter += int64(len(weight)) + 4*int64(channels) // int8 codes and one f32 scale per channel
	quantizePerChannel(&l, weight, channels)
	return l, nil
}

// quantizePerChannel applies torch's symmetric qint8 per-channel scheme to each output
// channel: scale = max(|min|, |max|) / 127.5, q = clamp(round_half_even(x · (1/scale)),
// -128, 127), x̂ = q · scale; then it measures x̂ against x.
func quantizePerChannel(l *report.Layer, w []float32, channels int) {
	per := len(w) / channels
	l.ScaleMin, l.ScaleMax = math.Inf(1), 0
	var signal, noise, dot, xhatSq float64
	for c := range channels {
		row := w[c*per : (c+1)*per]
		var lo, hi float32
		for _, v := range row {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale := max(max(-lo, hi)/127.5, float32(1.0/(1<<23)))
		inv := 1 / scale
		l.ScaleMin, l.ScaleMax = math.Min(l.ScaleMin, float64(scale)), math.Max(l.ScaleMax, float64(scale))
		for _, v := range row {
			q := math.Max(-128, math.Min(127, math.RoundToEven(float64(v*inv))))
			xhat := float64(float32(q) * scale)
			x := float64(v)
			signal += x * x
			noise += (x - xhat) * (x - xhat)
			dot += x * xhat
			xhatSq += xhat * xhat
			l.MaxAbsErr = math.Max(l.MaxAbsErr, math.Abs(x-xhat))
		}
	}
	l.SQNR = 10 * math.Log10(signal/noise)
	l.MSE = noise / float64(len(w))
	l.Cosine = dot / math.Sqrt(signal*xhatSq)
}

// sampleActivations gives ReLU-like histograms (most values at 0, an exponential tail)
// and the logits; uint8 affine qparams follow from each range.
func sampleActivations() []report.Activation {
	specs := []struct {
		name     string
		lo, hi   float64
		decay    float64
		centered bool
	}{
		{"input", 0, 1, 1.5, false},
		{"/relu/Relu_output_0", 0, 3.912, 4, false},
		{"/relu_1/Relu_output_0", 0, 6.055, 5, false},
		{"/Flatten_output_0", 0, 7.731, 6, false},
		{"/relu_3/Relu_output_0", 0, 11.26, 4, false},
		{"logits", -21.5, 32.4, 0, true},
	}
	var out []report.Activation
	for _, s := range specs {
		h := &report.Histogram{Min: s.lo, Max: s.hi, Counts: make([]int64, 64)}
		for i := range h.Counts {
			x := (float64(i) + 0.5) / 64
			if s.centered {
				z := (x - 0.4) / 0.12
				h.Counts[i] = int64(5000 * math.Exp(-z*z/2))
			} else {
				h.Counts[i] = int64(20000 * math.Exp(-s.decay*8*x))
			}
		}
		lo, hi := math.Min(0, s.lo), math.Max(0, s.hi)
		scale := float64(float32((hi - lo) / 255))
		zp := int32(math.Max(0, math.Min(255, -math.RoundToEven(lo/scale))))
		out = append(out, report.Activation{Name: s.name, Observer: "histogram(l2)", Min: s.lo, Max: s.hi,
			Scale: scale, ZeroPoint: zp, QDType: "uint8", Histogram: h})
	}
	return out
}
