package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/qscript-dev/qscript/internal/clip"
)

// SQNRTolerance is the smallest SQNR change, in dB, that Diff reports. Smaller changes
// are noise from reruns with the same settings.
const SQNRTolerance = 0.01

// Diff says what changed from prev to cur, one change per line, for watch mode: the
// scheme, layers added or removed, layers newly quantized or skipped, type or granularity
// changes, SQNR changes larger than SQNRTolerance, the totals and the evaluation. It is
// empty when nothing changed, or when prev is nil (the first run has nothing to compare).
func Diff(prev, cur *Report) string {
	if prev == nil || cur == nil {
		return ""
	}
	var d differ
	if prev.Scheme != cur.Scheme {
		d.linef("scheme: %s → %s", orNone(prev.Scheme), orNone(cur.Scheme))
	}
	d.layers(prev.Layers, cur.Layers)
	d.totals(prev.Totals, cur.Totals)
	d.eval(prev.Eval, cur.Eval)
	return d.String()
}

type differ struct{ strings.Builder }

// linef adds one line; a line holding a control character (from a hostile layer name)
// is quoted, as the table's cells are.
func (d *differ) linef(format string, args ...any) {
	d.WriteString(clip.Printable(fmt.Sprintf(format, args...)))
	d.WriteByte('\n')
}

func (d *differ) layers(prev, cur []Layer) {
	before := make(map[string]*Layer, len(prev))
	for i := range prev {
		before[prev[i].Name] = &prev[i]
	}
	seen := make(map[string]bool, len(cur))
	for i := range cur {
		c := &cur[i]
		seen[c.Name] = true
		p, ok := before[c.Name]
		if !ok {
			d.linef("%s: new layer, %s", c.Name, layerState(c))
			continue
		}
		d.layer(p, c)
	}
	for i := range prev {
		if !seen[prev[i].Name] {
			d.linef("%s: no longer in the report", prev[i].Name)
		}
	}
}

func (d *differ) layer(p, c *Layer) {
	switch {
	case p.Quantized && !c.Quantized:
		d.linef("%s: now %s (was %s)", c.Name, c.skipNote(), layerState(p))
		return
	case !p.Quantized && c.Quantized:
		d.linef("%s: now %s (was %s)", c.Name, layerState(c), p.skipNote())
		return
	case !c.Quantized:
		if p.Reason != c.Reason {
			d.linef("%s: %s (was %s)", c.Name, c.skipNote(), p.skipNote())
		}
		return
	}
	if p.QDType != c.QDType || p.Granularity != c.Granularity {
		d.linef("%s: %s %s → %s %s", c.Name, p.conversion(), p.Granularity, c.conversion(), c.Granularity)
	}
	if p.NoWeight != c.NoWeight {
		d.linef("%s: now %s (was %s)", c.Name, layerState(c), layerState(p))
		return
	}
	if c.HasWeightStats() && sqnrChanged(p.SQNR, c.SQNR) {
		d.linef("%s: SQNR %s → %s dB%s", c.Name, formatDB(p.SQNR), formatDB(c.SQNR), dbDelta(p.SQNR, c.SQNR))
	}
}

func (d *differ) totals(p, c Totals) {
	if p.Layers != c.Layers || p.Quantized != c.Quantized || p.Skipped != c.Skipped {
		d.linef("layers: %d quantized, %d skipped → %d quantized, %d skipped", p.Quantized, p.Skipped, c.Quantized, c.Skipped)
	}
	switch {
	case p.BytesBefore != c.BytesBefore:
		d.linef("size: was %s, now %s", p.bytesLine(), c.bytesLine())
	case p.BytesAfter != c.BytesAfter:
		d.linef("output size: %s → %s (%s → %s)", FormatBytes(p.BytesAfter), FormatBytes(c.BytesAfter),
			formatRatio(p.Ratio), formatRatio(c.Ratio))
	}
}

func (d *differ) eval(p, c *Eval) {
	switch {
	case p == nil && c == nil:
		return
	case p == nil:
		d.linef("eval: now on %d samples, output SQNR %s dB, top-1 agreement %s",
			c.Samples, formatDB(c.OutputSQNR), formatPercent(c.Top1Agreement))
		return
	case c == nil:
		d.linef("eval: no longer run")
		return
	}
	if sqnrChanged(p.OutputSQNR, c.OutputSQNR) {
		d.linef("eval: output SQNR %s → %s dB%s", formatDB(p.OutputSQNR), formatDB(c.OutputSQNR),
			dbDelta(p.OutputSQNR, c.OutputSQNR))
	}
	if formatPercent(p.Top1Agreement) != formatPercent(c.Top1Agreement) {
		d.linef("eval: top-1 agreement %s → %s", formatPercent(p.Top1Agreement), formatPercent(c.Top1Agreement))
	}
	if pa, ca := p.accuracyLine(), c.accuracyLine(); pa != ca {
		d.linef("eval: accuracy %s → %s", orNone(pa), orNone(ca))
	}
}

func layerState(l *Layer) string {
	if !l.Quantized {
		return l.skipNote()
	}
	if l.NoWeight {
		return fmt.Sprintf("quantized %s, no stored weight", l.QDType)
	}
	return fmt.Sprintf("quantized %s, SQNR %s dB", l.QDType, formatDB(l.SQNR))
}

// sqnrChanged treats two infinities of the same sign, and two NaNs, as equal.
func sqnrChanged(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) != math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a != b
	}
	return math.Abs(a-b) > SQNRTolerance
}

func dbDelta(a, b float64) string {
	delta := b - a
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return ""
	}
	return fmt.Sprintf(" (%+.2f)", delta)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
