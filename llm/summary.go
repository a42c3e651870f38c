package llm

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/report"
)

// Summary is the text report of a written folder: the report's totals per config group
// (report.Report.GroupTotals), then its worst layers.
func (p *Planned) Summary(res *Result) string {
	r := p.Report(res)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d layers quantized in %d config group(s), %d shard(s), %s -> %s of tensor data\n",
		res.Dir, len(res.Layers), len(p.Groups), len(res.Shards), report.FormatBytes(res.InBytes), report.FormatBytes(res.OutBytes))
	fmt.Fprintf(&b, "%-8s %-12s %-16s %7s %12s %10s %10s %9s %9s\n", "group", "scheme", "format", "layers", "params", "in", "out", "mean dB", "min dB")
	params := map[string]int{}
	for _, l := range r.Layers {
		if l.Quantized {
			params[l.Group] += l.Shape[0] * numelTail(l.Shape)
		}
	}
	for _, t := range r.GroupTotals() {
		fmt.Fprintf(&b, "%-8s %-12s %-16s %7d %12d %10s %10s %9.2f %9.2f\n", t.Name, t.Scheme, p.Format(t.Name), t.Layers, params[t.Name],
			report.FormatBytes(t.BytesBefore), report.FormatBytes(t.BytesAfter), t.MeanSQNR, t.MinSQNR)
	}
	if len(p.Ignore) > 0 {
		fmt.Fprintf(&b, "left in full precision: %s\n", strings.Join(p.Ignore, ", "))
	}
	worst := r.Worst(report.WorstCount)
	if len(worst) > 0 {
		fmt.Fprintf(&b, "worst %d layers (SQNR of the dequantized weight):\n", len(worst))
		for _, l := range worst {
			fmt.Fprintf(&b, "  %8.2f dB  %-12s %s\n", l.SQNR, l.QDType, l.Name)
		}
	}
	return b.String()
}

// Format is the format of the config group named group ("pack-quantized").
func (p *Planned) Format(group string) string {
	for _, g := range p.Groups {
		if g.Name == group {
			return g.Scheme.Format()
		}
	}
	return ""
}
