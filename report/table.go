package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qscript-dev/qscript/internal/clip"
)

// String returns the report as the text WriteTable writes.
func (r *Report) String() string {
	var b strings.Builder
	r.WriteTable(&b)
	return b.String()
}

// WriteTable writes the report as plain aligned text: a header, the layer table (a layer
// left in float shows why instead of its metrics), the activations and the evaluation
// when present, the totals and the warnings. Column widths follow the content; there are
// no colours or other terminal escapes.
func (r *Report) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, clip.Printable(r.title()))
	header := newTable(left, left)
	header.add("input", r.Input)
	header.add("output", r.Output)
	header.add("scheme", r.Scheme)
	header.dropEmpty(1)
	header.write(bw, "  ", false)

	if r.Large() {
		r.writeScale(bw)
	}
	if len(r.Layers) > 0 {
		fmt.Fprintln(bw)
		r.layerTable().write(bw, "", true)
	}
	if len(r.Activations) > 0 {
		fmt.Fprintln(bw)
		r.activationTable().write(bw, "", true)
	}
	if e := r.Eval; e != nil {
		fmt.Fprintln(bw)
		fmt.Fprintf(bw, "evaluation on %d samples\n", e.Samples)
		ev := newTable(left, left)
		ev.add("output SQNR", formatDB(e.OutputSQNR)+" dB")
		ev.add("top-1 agreement", formatPercent(e.Top1Agreement))
		if acc := e.accuracyLine(); acc != "" {
			ev.add("accuracy", acc)
		}
		ev.write(bw, "  ", false)
	}
	r.writeGPTQ(bw)
	if r.Accuracy != nil {
		fmt.Fprintln(bw)
		r.Accuracy.writeText(bw)
	}
	fmt.Fprintln(bw)
	totals := newTable(left, left)
	totals.add("totals", r.Totals.countLine())
	totals.add("bytes", r.Totals.bytesLine())
	totals.write(bw, "", false)
	if len(r.Warnings) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "warnings")
		for _, msg := range r.Warnings {
			fmt.Fprintf(bw, "  - %s\n", clip.Printable(msg))
		}
	}
	return bw.Flush()
}

func (r *Report) layerTable() *table {
	t := newTable(left, left, left, left, left, right, right, right, right, right)
	t.header("layer", "type", "shape", "dtype", "granularity", "scale min", "scale max", "SQNR dB", "MSE", "cosine")
	for i := range r.Layers {
		l := &r.Layers[i]
		if !l.Quantized {
			// The reason runs over the metric columns, which are empty for this row.
			t.addSpan(4, l.Name, l.Type, FormatShape(l.Shape), l.conversion(), l.skipNote())
			continue
		}
		if l.NoWeight {
			t.add(l.Name, l.Type, FormatShape(l.Shape), l.conversion(), l.Granularity,
				notAvailable, notAvailable, notAvailable, notAvailable, notAvailable)
			continue
		}
		scaleMin, scaleMax := l.scaleRange()
		t.add(l.Name, l.Type, FormatShape(l.Shape), l.conversion(), l.Granularity,
			scaleMin, scaleMax, formatDB(l.SQNR),
			formatNumber(l.MSE), formatCosine(l.Cosine))
	}
	return t
}

func (r *Report) activationTable() *table {
	t := newTable(left, left, left, right, right, right, right)
	t.header("activation", "observer", "qdtype", "min", "max", "scale", "zero point")
	for _, a := range r.Activations {
		t.add(a.Name, a.Observer, a.QDType, formatNumber(a.Min), formatNumber(a.Max),
			formatNumber(a.Scale), fmt.Sprint(a.ZeroPoint))
	}
	return t
}

func (e *Eval) accuracyLine() string {
	switch {
	case e.FloatAccuracy != nil && e.QuantAccuracy != nil:
		delta := 100 * (*e.QuantAccuracy - *e.FloatAccuracy)
		return fmt.Sprintf("float %s, quantized %s (%+.2f points)",
			formatPercent(*e.FloatAccuracy), formatPercent(*e.QuantAccuracy), delta)
	case e.FloatAccuracy != nil:
		return "float " + formatPercent(*e.FloatAccuracy)
	case e.QuantAccuracy != nil:
		return "quantized " + formatPercent(*e.QuantAccuracy)
	}
	return ""
}

type align int

const (
	left align = iota
	right
)

// table lays out rows of cells in columns as wide as their widest cell. A row may end in
// a span: one cell from column spanFrom on that is not measured and runs past the columns
// after it, which that row leaves empty.
type table struct {
	aligns []align
	head   []string
	rows   []row
}

type row struct {
	cells    []string
	spanFrom int // -1 when the row has no span
}

func newTable(aligns ...align) *table { return &table{aligns: aligns} }

func (t *table) header(cells ...string) { t.head = cells }

func (t *table) add(cells ...string) { t.rows = append(t.rows, row{printables(cells), -1}) }

func (t *table) addSpan(from int, cells ...string) {
	t.rows = append(t.rows, row{printables(cells), from})
}

func printables(cells []string) []string {
	for i, c := range cells {
		cells[i] = clip.Printable(c)
	}
	return cells
}

// dropEmpty removes the rows whose column col is empty.
func (t *table) dropEmpty(col int) {
	kept := t.rows[:0]
	for _, r := range t.rows {
		if r.cells[col] != "" {
			kept = append(kept, r)
		}
	}
	t.rows = kept
}

func (t *table) widths() []int {
	w := make([]int, len(t.aligns))
	measure := func(cells []string, upTo int) {
		for i, c := range cells[:upTo] {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	if t.head != nil {
		measure(t.head, len(t.head))
	}
	for _, r := range t.rows {
		if r.spanFrom >= 0 {
			measure(r.cells, r.spanFrom)
		} else {
			measure(r.cells, len(r.cells))
		}
	}
	return w
}

// write prints the table with indent before each line and two spaces between columns;
// rule underlines the header with dashes.
func (t *table) write(w io.Writer, indent string, rule bool) {
	widths := t.widths()
	if t.head != nil {
		t.writeRow(w, indent, widths, row{t.head, -1})
		if rule {
			dashes := make([]string, len(widths))
			for i, n := range widths {
				dashes[i] = strings.Repeat("-", n)
			}
			t.writeRow(w, indent, widths, row{dashes, -1})
		}
	}
	for _, r := range t.rows {
		t.writeRow(w, indent, widths, r)
	}
}

func (t *table) writeRow(w io.Writer, indent string, widths []int, r row) {
	var b strings.Builder
	b.WriteString(indent)
	for i, c := range r.cells {
		if i > 0 {
			b.WriteString("  ")
		}
		pad := strings.Repeat(" ", max(0, widths[i]-utf8.RuneCountInString(c)))
		if i == r.spanFrom {
			b.WriteString(c)
			break
		}
		if t.aligns[i] == right {
			b.WriteString(pad + c)
		} else {
			b.WriteString(c + pad)
		}
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
}

// writeScale writes, for a report at LLM scale, the worst layers and the totals per
// config group and per scheme, before the full layer table.
func (r *Report) writeScale(w io.Writer) {
	if worst := r.Worst(WorstCount); len(worst) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "worst %d layers\n", len(worst))
		t := newTable(left, left, left, right, right)
		t.header("layer", "dtype", "granularity", "SQNR dB", "max |err|")
		for _, l := range worst {
			t.add(l.Name, l.conversion(), l.Granularity, formatDB(l.SQNR), formatNumber(l.MaxAbsErr))
		}
		t.write(w, "", true)
	}
	for _, part := range []struct {
		title string
		rows  []GroupTotal
	}{{"per config group", r.GroupTotals()}, {"per scheme", r.SchemeTotals()}} {
		if len(part.rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "totals "+part.title)
		t := newTable(left, left, right, right, right, right)
		t.header("name", "scheme", "layers", "size", "mean SQNR dB", "min SQNR dB")
		for _, g := range part.rows {
			t.add(g.Name, g.Scheme, strconv.Itoa(g.Layers), FormatBytes(g.BytesBefore)+" -> "+FormatBytes(g.BytesAfter), formatDB(g.MeanSQNR), formatDB(g.MinSQNR))
		}
		t.write(w, "", true)
	}
}
