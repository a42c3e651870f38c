package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
)

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"px":  func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"add": func(a, b float64) float64 { return a + b },
}).Parse(pageSource))

// WriteHTML writes the report as one self-contained HTML page: inline CSS and SVG, no
// script, nothing fetched from the network. It shows the totals, a bar chart of the
// weight SQNR per layer, the layer table with a histogram of each layer's weights, the
// activations and the evaluation. Every name is HTML-escaped. Deferred histograms are
// computed first (FillHistograms), which can fail.
func (r *Report) WriteHTML(w io.Writer) error {
	if err := r.FillHistograms(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := page.Execute(bw, r.htmlView()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return bw.Flush()
}

type htmlView struct {
	Title, Input, Output, Scheme string
	Cards                        []card
	Chart                        *sqnrChart
	Layers                       []htmlLayer
	Histograms                   bool // some layer has a weight histogram
	Activations                  []htmlActivation
	Eval                         []card
	GPTQ                         []htmlGPTQ
	Warnings                     []string
	// At LLM scale (Report.Large): the worst layers and the totals come first, and the
	// chart, the layer table and the histograms start collapsed.
	Large           bool
	Worst           []htmlLayer
	Groups, Schemes []totalRow
}

type totalRow struct{ Name, Scheme, Layers, Size, Mean, Min string }

func totalRows(ts []GroupTotal) []totalRow {
	var out []totalRow
	for _, t := range ts {
		out = append(out, totalRow{Name: t.Name, Scheme: t.Scheme, Layers: strconv.Itoa(t.Layers),
			Size: FormatBytes(t.BytesBefore) + " → " + FormatBytes(t.BytesAfter), Mean: formatDB(t.MeanSQNR), Min: formatDB(t.MinSQNR)})
	}
	return out
}

type htmlGPTQ struct {
	Layer, Samples, RTNMSE, GPTQMSE, RTNSQNR, GPTQSQNR string
}

type card struct{ Label, Value, Note string }

type htmlLayer struct {
	Name, Type, Shape, DType     string
	Quantized, NoWeight          bool
	Conversion, Granularity      string
	ScaleMin, ScaleMax, SQNR     string
	MSE, MaxAbsErr, Cosine, Size string
	Note                         string
	Outlier                      bool
	Hist                         *sparkline
}

type htmlActivation struct {
	Name, Observer, QDType     string
	Min, Max, Scale, ZeroPoint string
	Hist                       *sparkline
}

func (r *Report) htmlView() *htmlView {
	v := &htmlView{Title: r.title(), Input: r.Input, Output: r.Output, Scheme: r.Scheme, Warnings: r.Warnings}
	t := r.Totals
	v.Cards = []card{
		{"layers quantized", fmt.Sprintf("%d of %d", t.Quantized, t.Layers), fmt.Sprintf("%d kept in float", t.Skipped)},
		{"size", FormatBytes(t.BytesAfter), "from " + FormatBytes(t.BytesBefore)},
		{"compression", formatRatio(t.Ratio), "bytes before / after"},
	}
	v.Chart = newSQNRChart(r.Layers)
	if v.Chart != nil && v.Chart.HasMedian {
		v.Cards = append(v.Cards, card{"median weight SQNR", formatDB(v.Chart.Median) + " dB", "over quantized layers"})
	}
	if e := r.Eval; e != nil {
		v.Eval = []card{
			{"output SQNR", formatDB(e.OutputSQNR) + " dB", fmt.Sprintf("on %d samples", e.Samples)},
			{"top-1 agreement", formatPercent(e.Top1Agreement), "quantized vs float"},
		}
		if e.FloatAccuracy != nil {
			v.Eval = append(v.Eval, card{"float accuracy", formatPercent(*e.FloatAccuracy), ""})
		}
		if e.QuantAccuracy != nil {
			note := ""
			if e.FloatAccuracy != nil {
				note = fmt.Sprintf("%+.2f points", 100*(*e.QuantAccuracy-*e.FloatAccuracy))
			}
			v.Eval = append(v.Eval, card{"quantized accuracy", formatPercent(*e.QuantAccuracy), note})
		}
	}
	for _, g := range r.GPTQ {
		v.GPTQ = append(v.GPTQ, htmlGPTQ{g.Layer, fmt.Sprint(g.Samples), formatNumber(g.RTNMSE), formatNumber(g.GPTQMSE),
			formatDB(g.RTNSQNR), formatDB(g.GPTQSQNR)})
	}
	for i := range r.Layers {
		l := &r.Layers[i]
		hl := htmlLayer{
			Name: l.Name, Type: l.Type, Shape: FormatShape(l.Shape), DType: l.DType,
			Quantized: l.Quantized, NoWeight: l.NoWeight, Conversion: l.conversion(), Granularity: l.Granularity,
			Size: FormatBytes(l.BytesBefore) + " → " + FormatBytes(l.BytesAfter),
			Hist: newSparkline(l.Histogram),
		}
		switch {
		case l.NoWeight && l.Quantized:
			hl.SQNR, hl.MSE, hl.MaxAbsErr, hl.Cosine = notAvailable, notAvailable, notAvailable, notAvailable
		case l.Quantized:
			hl.ScaleMin, hl.ScaleMax = l.scaleRange()
			hl.SQNR, hl.MSE = formatDB(l.SQNR), formatNumber(l.MSE)
			hl.MaxAbsErr, hl.Cosine = formatNumber(l.MaxAbsErr), formatCosine(l.Cosine)
			hl.Outlier = v.Chart.Rows[i].Class == "bar outlier"
		default:
			hl.Note = l.floatNote()
		}
		v.Histograms = v.Histograms || hl.Hist != nil
		v.Layers = append(v.Layers, hl)
	}
	if v.Large = r.Large(); v.Large {
		for _, l := range r.Worst(WorstCount) {
			v.Worst = append(v.Worst, htmlLayer{Name: l.Name, Type: l.Type, Shape: FormatShape(l.Shape), Conversion: l.conversion(),
				Granularity: l.Granularity, SQNR: formatDB(l.SQNR), MaxAbsErr: formatNumber(l.MaxAbsErr),
				Size: FormatBytes(l.BytesBefore) + " → " + FormatBytes(l.BytesAfter)})
		}
		if g := r.GroupTotals(); len(g) > 0 {
			v.Groups = totalRows(g)
		}
		v.Schemes = totalRows(r.SchemeTotals())
	}
	for _, a := range r.Activations {
		v.Activations = append(v.Activations, htmlActivation{
			Name: a.Name, Observer: a.Observer, QDType: a.QDType,
			Min: formatNumber(a.Min), Max: formatNumber(a.Max), Scale: formatNumber(a.Scale),
			ZeroPoint: strconv.Itoa(int(a.ZeroPoint)), Hist: newSparkline(a.Histogram),
		})
	}
	return v
}
