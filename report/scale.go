package report

import (
	"cmp"
	"math"
	"slices"
)

// LargeLayerCount is the layer count from which a report is "at LLM scale": the worst
// layers and the totals per group and per scheme come first, and the HTML per-layer
// table, chart and histograms start collapsed.
const LargeLayerCount = 40

// WorstCount is how many layers the worst-layers list shows.
const WorstCount = 10

// Large reports whether the report is at LLM scale: many layers, or several config groups.
func (r *Report) Large() bool {
	return len(r.Layers) >= LargeLayerCount || len(r.GroupTotals()) > 1
}

// Worst returns the n quantized layers (with weight statistics) of lowest SQNR, worst
// first; ties keep model order.
func (r *Report) Worst(n int) []Layer {
	var out []Layer
	for _, l := range r.Layers {
		if l.HasWeightStats() {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b Layer) int { return cmp.Compare(a.SQNR, b.SQNR) })
	return out[:min(n, len(out))]
}

// GroupTotal sums the quantized layers of one config group or one scheme.
type GroupTotal struct {
	Name        string  `json:"name"`   // group name, or the scheme for per-scheme totals
	Scheme      string  `json:"scheme"` // the layers' QDType
	Layers      int     `json:"layers"`
	BytesBefore int64   `json:"bytes_before"`
	BytesAfter  int64   `json:"bytes_after"`
	MeanSQNR    float64 `json:"mean_sqnr_db"`
	MinSQNR     float64 `json:"min_sqnr_db"`
}

// GroupTotals sums the quantized layers per config group (Layer.Group), in order of first
// appearance; nil when no layer names a group.
func (r *Report) GroupTotals() []GroupTotal {
	return r.totalsBy(func(l *Layer) string { return l.Group })
}

// SchemeTotals sums the quantized layers per scheme (Layer.QDType).
func (r *Report) SchemeTotals() []GroupTotal {
	return r.totalsBy(func(l *Layer) string { return l.QDType })
}

func (r *Report) totalsBy(key func(*Layer) string) []GroupTotal {
	var out []GroupTotal
	index := map[string]int{}
	counted := map[string]int{}
	for i := range r.Layers {
		l := &r.Layers[i]
		k := key(l)
		if !l.Quantized || k == "" {
			continue
		}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, GroupTotal{Name: k, Scheme: l.QDType, MinSQNR: math.Inf(1)})
		}
		t := &out[j]
		t.Layers++
		t.BytesBefore += l.BytesBefore
		t.BytesAfter += l.BytesAfter
		if l.HasWeightStats() {
			t.MeanSQNR += l.SQNR
			t.MinSQNR = min(t.MinSQNR, l.SQNR)
			counted[k]++
		}
	}
	for i := range out {
		if n := counted[out[i].Name]; n > 0 {
			out[i].MeanSQNR /= float64(n)
		} else {
			out[i].MinSQNR = math.NaN()
		}
	}
	return out
}
