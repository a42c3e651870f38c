package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/qscript-dev/qscript/internal/clip"
)

// Accuracy is static quantization's check of its own output on a few calibration samples:
// the whole model's output SQNR against the float model, each quantized node's own damage,
// worst first, and the nodes an accuracy loop kept in float.
type Accuracy struct {
	Samples int `json:"samples"`
	// OutputSQNR is the SQNR in dB of the quantized model's outputs (all float outputs)
	// against the float model's.
	OutputSQNR float64 `json:"output_sqnr_db"`
	// Nodes are the quantized nodes, the most damaging first.
	Nodes []NodeAccuracy `json:"nodes"`
	// Kept lists the nodes left in float to meet min_sqnr or max_drop, in the order they
	// were kept.
	Kept []KeptNode `json:"kept_float,omitempty"`
	// Metric is the accuracy on labelled evaluation data when max_drop was checked.
	Metric *MetricCheck `json:"metric,omitempty"`
}

// NodeAccuracy is one quantized node's own damage: the output SQNR of the model in which
// only this node is quantized (its weight and its input activations).
type NodeAccuracy struct {
	Name       string  `json:"name"`
	Activation string  `json:"activation"` // its input activation
	Min        float64 `json:"min"`        // the activation's calibrated range
	Max        float64 `json:"max"`
	SQNR       float64 `json:"sqnr_db"`
	// CostDB estimates how much the whole model's output SQNR would rise were this node
	// alone kept in float: 10·log10(N / (N - Nᵢ)) with N the whole model's output noise and
	// Nᵢ this node's, at most 30 (Nᵢ reaching N).
	CostDB float64 `json:"cost_db"`
}

// KeptNode is a node an accuracy loop left in float, with what that gained.
type KeptNode struct {
	Name   string  `json:"name"`
	Loop   string  `json:"loop"`    // "min_sqnr" or "max_drop"
	GainDB float64 `json:"gain_db"` // output SQNR after minus before
	// Metric is the quantized accuracy after keeping it (max_drop only).
	Metric *float64 `json:"metric,omitempty"`
}

// MetricCheck is the max_drop loop's outcome.
type MetricCheck struct {
	Float   float64 `json:"float"`
	Quant   float64 `json:"quant"`
	MaxDrop float64 `json:"max_drop"`
}

func (a *Accuracy) clone() *Accuracy {
	if a == nil {
		return nil
	}
	c := *a
	c.Nodes = slices.Clone(a.Nodes)
	c.Kept = slices.Clone(a.Kept)
	for i := range c.Kept {
		if m := c.Kept[i].Metric; m != nil {
			c.Kept[i].Metric = new(*m)
		}
	}
	if a.Metric != nil {
		m := *a.Metric
		c.Metric = &m
	}
	return &c
}

// writeText writes the accuracy section of the text report.
func (a *Accuracy) writeText(w io.Writer) {
	fmt.Fprintf(w, "accuracy check on %d calibration samples: output SQNR %s dB\n", a.Samples, formatDB(a.OutputSQNR))
	if len(a.Nodes) > 0 {
		t := newTable(left, left, left, right, right)
		t.header("node (worst first)", "activation", "range", "alone dB", "cost dB")
		for _, n := range a.Nodes {
			t.add(n.Name, n.Activation, fmt.Sprintf("[%.4g, %.4g]", n.Min, n.Max), formatDB(n.SQNR), formatDB(n.CostDB))
		}
		t.write(w, "  ", true)
	}
	for _, k := range a.Kept {
		line := fmt.Sprintf("  kept in float by %s: %s (%+.1f dB)", k.Loop, clip.Printable(k.Name), k.GainDB)
		if k.Metric != nil {
			line += fmt.Sprintf(", accuracy %s", formatPercent(*k.Metric))
		}
		fmt.Fprintln(w, line)
	}
	if m := a.Metric; m != nil {
		fmt.Fprintf(w, "  accuracy float %s, quantized %s (max drop %s)\n", formatPercent(m.Float), formatPercent(m.Quant), formatPercent(m.MaxDrop))
	}
}

func (a Accuracy) MarshalJSON() ([]byte, error) {
	type plain Accuracy
	return json.Marshal(struct {
		plain
		OutputSQNR jsonFloat `json:"output_sqnr_db"`
	}{plain(a), jsonFloat(a.OutputSQNR)})
}

func (a *Accuracy) UnmarshalJSON(b []byte) error {
	type plain Accuracy
	v := struct {
		*plain
		OutputSQNR *jsonFloat `json:"output_sqnr_db"`
	}{plain: (*plain)(a), OutputSQNR: optFloat(&a.OutputSQNR)}
	return json.Unmarshal(b, &v)
}

func (n NodeAccuracy) MarshalJSON() ([]byte, error) {
	type plain NodeAccuracy
	return json.Marshal(struct {
		plain
		SQNR   jsonFloat `json:"sqnr_db"`
		CostDB jsonFloat `json:"cost_db"`
	}{plain(n), jsonFloat(n.SQNR), jsonFloat(n.CostDB)})
}

func (n *NodeAccuracy) UnmarshalJSON(b []byte) error {
	type plain NodeAccuracy
	v := struct {
		*plain
		SQNR   *jsonFloat `json:"sqnr_db"`
		CostDB *jsonFloat `json:"cost_db"`
	}{plain: (*plain)(n), SQNR: optFloat(&n.SQNR), CostDB: optFloat(&n.CostDB)}
	return json.Unmarshal(b, &v)
}

func (k KeptNode) MarshalJSON() ([]byte, error) {
	type plain KeptNode
	return json.Marshal(struct {
		plain
		GainDB jsonFloat `json:"gain_db"`
	}{plain(k), jsonFloat(k.GainDB)})
}

func (k *KeptNode) UnmarshalJSON(b []byte) error {
	type plain KeptNode
	v := struct {
		*plain
		GainDB *jsonFloat `json:"gain_db"`
	}{plain: (*plain)(k), GainDB: optFloat(&k.GainDB)}
	return json.Unmarshal(b, &v)
}
