package report

import "slices"

// Report describes one quantization run. The zero value is an empty report; fill it, then
// call Finish before rendering so that Totals agree with Layers.
type Report struct {
	Title  string `json:"title"`            // e.g. "int8_dynamic: digits_cnn.pt"
	Input  string `json:"input"`            // input model path
	Output string `json:"output,omitempty"` // output path, once saved
	Scheme string `json:"scheme"`           // e.g. "int8 per-channel symmetric weights (torch numerics)"

	Layers      []Layer      `json:"layers"`
	Activations []Activation `json:"activations,omitempty"` // static quantization only

	// OtherBytes counts the tensors that belong to no listed layer (biases of layers that
	// are not listed, counters such as num_batches_tracked). They are written unchanged,
	// so Finish adds them to both byte totals.
	OtherBytes int64 `json:"other_bytes,omitempty"`

	Totals Totals `json:"totals"`
	Eval   *Eval  `json:"eval,omitempty"` // static quantization with evaluation data only
	// GPTQ compares GPTQ with round to nearest per layer (GPTQ with held-out samples only).
	GPTQ []GPTQLayer `json:"gptq,omitempty"`
	// Accuracy is static quantization's check of its output on calibration samples.
	Accuracy *Accuracy `json:"accuracy,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Layer is one layer of the model: its weight and what quantization did to it. A layer
// left in float has Quantized false and a Reason, and its error metrics are zero.
type Layer struct {
	Name   string `json:"name"`
	Type   string `json:"type"` // "Linear", "Conv2d", "Conv", "Embedding", ...
	Shape  []int  `json:"shape"`
	DType  string `json:"dtype"`            // stored dtype of the weight in the input, e.g. "F32"
	QDType string `json:"qdtype,omitempty"` // e.g. "int8", "int4", "fp16"; empty when skipped

	// Granularity is "per_tensor", "per_channel(axis=0)", "per_group(128)" or "cast".
	Granularity string `json:"granularity,omitempty"`

	// Group is the compressed-tensors config group of a quantized layer ("group_0"), set
	// when a model is quantized with several schemes; QDType then names the scheme.
	Group string `json:"group,omitempty"`

	Quantized bool   `json:"quantized"`
	Reason    string `json:"reason,omitempty"` // why the layer was skipped: "skip: conv1", "type Norm not selected", ...

	// NoWeight marks a quantized layer that stores no weight, such as an ONNX MatMul of
	// two activations (static quantization quantizes both inputs at run time). It has no
	// weight statistics: the scale range, SQNR, MSE, max error and cosine are zero and
	// mean nothing, the table and the page show "—" for them, JSON has null, and the
	// SQNR chart draws no bar.
	NoWeight bool `json:"no_weight,omitempty"`

	// ScaleMin and ScaleMax are the smallest and largest scale over the channels or
	// groups (equal for per-tensor; zero for casts).
	ScaleMin float64 `json:"scale_min"`
	ScaleMax float64 `json:"scale_max"`

	// Error of the dequantized weight x̂ against the original x, over all elements.
	// SQNR is in dB and is +Inf when the weight is reproduced exactly.
	SQNR      float64 `json:"sqnr_db"`
	MSE       float64 `json:"mse"`
	MaxAbsErr float64 `json:"max_abs_err"`
	Cosine    float64 `json:"cosine"`

	// BytesBefore and BytesAfter count every tensor of the layer (weight, bias, scales,
	// zero points) as stored in the input and in the output.
	BytesBefore int64 `json:"bytes_before"`
	BytesAfter  int64 `json:"bytes_after"`

	Histogram *Histogram `json:"histogram,omitempty"` // of the float weight values
}

// HasWeightStats reports whether the layer's weight statistics (scales, SQNR, MSE, max
// error, cosine) were measured: it is quantized and stores a weight.
func (l *Layer) HasWeightStats() bool { return l.Quantized && !l.NoWeight }

// Activation is one activation tensor observed during calibration (static quantization).
type Activation struct {
	Name      string     `json:"name"`
	Observer  string     `json:"observer"` // "minmax", "histogram(l2)", ...
	Min       float64    `json:"min"`      // observed range, widened to include 0
	Max       float64    `json:"max"`
	Scale     float64    `json:"scale"`
	ZeroPoint int32      `json:"zero_point"`
	QDType    string     `json:"qdtype"` // "uint8", "int8"
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Totals summarise the layers; Finish computes them.
type Totals struct {
	Layers      int     `json:"layers"`
	Quantized   int     `json:"quantized"`
	Skipped     int     `json:"skipped"`
	BytesBefore int64   `json:"bytes_before"`
	BytesAfter  int64   `json:"bytes_after"`
	Ratio       float64 `json:"ratio"` // BytesBefore / BytesAfter; 0 when BytesAfter is 0
}

// Eval compares the quantized model with the float model on held-out data.
type Eval struct {
	Samples int `json:"samples"`
	// OutputSQNR is the SQNR in dB of the quantized model's outputs against the float
	// model's, over all samples.
	OutputSQNR float64 `json:"output_sqnr_db"`
	// Top1Agreement is the fraction (0..1) of samples whose arg-max output class is the
	// same for both models.
	Top1Agreement float64 `json:"top1_agreement"`
	// Accuracies (0..1) against the labels, when the data has labels.
	FloatAccuracy *float64 `json:"float_accuracy,omitempty"`
	QuantAccuracy *float64 `json:"quant_accuracy,omitempty"`
}

// Finish computes Totals from Layers and OtherBytes. Call it after the last change to
// Layers; the renderings use Totals as they are.
func (r *Report) Finish() {
	t := Totals{Layers: len(r.Layers), BytesBefore: r.OtherBytes, BytesAfter: r.OtherBytes}
	for _, l := range r.Layers {
		if l.Quantized {
			t.Quantized++
		} else {
			t.Skipped++
		}
		t.BytesBefore += l.BytesBefore
		t.BytesAfter += l.BytesAfter
	}
	if t.BytesAfter > 0 {
		t.Ratio = float64(t.BytesBefore) / float64(t.BytesAfter)
	}
	r.Totals = t
}

// Clone returns a deep copy of r: edits to the copy (its layers, histograms, warnings,
// evaluation) do not reach r. Producers that cache a report hand out clones.
func (r *Report) Clone() *Report {
	c := *r
	c.Layers = slices.Clone(r.Layers)
	for i := range c.Layers {
		c.Layers[i].Shape = slices.Clone(c.Layers[i].Shape)
		c.Layers[i].Histogram = c.Layers[i].Histogram.clone()
	}
	c.Activations = slices.Clone(r.Activations)
	for i := range c.Activations {
		c.Activations[i].Histogram = c.Activations[i].Histogram.clone()
	}
	c.Warnings = slices.Clone(r.Warnings)
	c.GPTQ = slices.Clone(r.GPTQ)
	c.Accuracy = r.Accuracy.clone()
	if r.Eval != nil {
		e := *r.Eval
		if e.FloatAccuracy != nil {
			e.FloatAccuracy = new(*e.FloatAccuracy)
		}
		if e.QuantAccuracy != nil {
			e.QuantAccuracy = new(*e.QuantAccuracy)
		}
		c.Eval = &e
	}
	return &c
}

func (h *Histogram) clone() *Histogram {
	if h == nil {
		return nil
	}
	c := *h
	c.Counts = slices.Clone(h.Counts)
	return &c
}
