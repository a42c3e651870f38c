package llm

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// GroupTotal sums one config group's layers.
type GroupTotal struct {
	Group, Scheme, Format string
	Layers                int
	Params                int
	InBytes, OutBytes     int64
	MeanSQNR, MinSQNR     float64 // dB over the group's layers
}

// Totals sums the written layers per config group, in group order.
func (p *Planned) Totals(res *Result) []GroupTotal {
	var out []GroupTotal
	for _, g := range p.Groups {
		t := GroupTotal{Group: g.Name, Scheme: g.Scheme.Name, Format: g.Scheme.Format(), MinSQNR: math.Inf(1)}
		var sum float64
		for _, st := range res.Layers {
			if st.Group != g.Name {
				continue
			}
			t.Layers++
			t.Params += st.Params
			t.InBytes += st.InBytes
			t.OutBytes += st.OutBytes
			sum += st.SQNR
			t.MinSQNR = min(t.MinSQNR, st.SQNR)
		}
		if t.Layers > 0 {
			t.MeanSQNR = sum / float64(t.Layers)
		}
		out = append(out, t)
	}
	return out
}

// Worst returns the n layers with the lowest SQNR, worst first.
func (res *Result) Worst(n int) []LayerStats {
	s := slices.Clone(res.Layers)
	slices.SortStableFunc(s, func(a, b LayerStats) int {
		switch {
		case a.SQNR < b.SQNR:
			return -1
		case a.SQNR > b.SQNR:
			return 1
		}
		return 0
	})
	return s[:min(n, len(s))]
}

// Summary is the text report of a written folder: totals per config group and scheme,
// then the 10 worst layers.
func (p *Planned) Summary(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d layers quantized in %d config group(s), %d shard(s), %s -> %s of tensor data\n",
		res.Dir, len(res.Layers), len(p.Groups), len(res.Shards), HumanBytes(res.InBytes), HumanBytes(res.OutBytes))
	fmt.Fprintf(&b, "%-8s %-12s %-16s %7s %12s %10s %10s %9s %9s\n", "group", "scheme", "format", "layers", "params", "in", "out", "mean dB", "min dB")
	for _, t := range p.Totals(res) {
		fmt.Fprintf(&b, "%-8s %-12s %-16s %7d %12d %10s %10s %9.2f %9.2f\n", t.Group, t.Scheme, t.Format, t.Layers, t.Params,
			HumanBytes(t.InBytes), HumanBytes(t.OutBytes), t.MeanSQNR, t.MinSQNR)
	}
	if len(p.Ignore) > 0 {
		fmt.Fprintf(&b, "left in full precision: %s\n", strings.Join(p.Ignore, ", "))
	}
	worst := res.Worst(10)
	if len(worst) > 0 {
		fmt.Fprintf(&b, "worst %d layers (SQNR of the dequantized weight):\n", len(worst))
		for _, st := range worst {
			fmt.Fprintf(&b, "  %8.2f dB  %-12s %s\n", st.SQNR, st.Scheme, st.Layer)
		}
	}
	return b.String()
}
