package report

import (
	"math"
	"slices"
	"unicode/utf8"
)

// Geometry of the SVG charts, computed here so the template only places elements. All
// lengths are SVG user units, which the page shows at one pixel each.

const (
	chartWidth    = 1100.0
	chartRowH     = 22.0
	chartBarH     = 14.0
	chartTop      = 8.0
	chartBottom   = 46.0 // tick labels and the axis title
	chartCharW    = 7.3  // advance of one character of the 12px monospace labels
	chartMaxLabel = 44   // characters; longer names are shortened in the middle
	chartValueW   = 150.0
	chartMaxDB    = 400.0 // float64 rounding error alone stays above 300 dB

	// outlierDB: a layer this far below the median SQNR of the quantized layers is drawn
	// in the warning colour. Relative, because what is normal depends on the scheme
	// (int8 per channel sits near 40 dB, int4 per group near 20 dB).
	outlierDB = 6.0
)

type sqnrChart struct {
	Width, Height   float64
	PlotX, PlotW    float64
	AxisY           float64
	Ticks           []chartTick
	Rows            []sqnrRow
	Median          float64
	MedianX         float64
	HasMedian       bool
	HasOutliers     bool
	HasSkipped      bool
	LegendY         float64
	AxisTitleX      float64
	ShortenedLabels bool
}

type chartTick struct {
	X     float64
	Label string
}

type sqnrRow struct {
	Y, BarY, TextY float64
	Label, Name    string // Label may be shortened; Name is the full name for the tooltip
	BarW           float64
	Value          string
	ValueX         float64
	Class          string // "bar", "bar outlier", "skipped"
	Skipped        bool
	Note           string
}

func newSQNRChart(layers []Layer) *sqnrChart {
	if len(layers) == 0 {
		return nil
	}
	longest := 0
	for _, l := range layers {
		longest = max(longest, min(chartMaxLabel, utf8.RuneCountInString(l.Name)))
	}
	c := &sqnrChart{Width: chartWidth, PlotX: math.Round(float64(longest)*chartCharW + 16)}
	c.PlotW = chartWidth - c.PlotX - chartValueW
	c.AxisY = chartTop + float64(len(layers))*chartRowH
	c.Height = c.AxisY + chartBottom
	c.AxisTitleX = c.PlotX + c.PlotW/2

	var finite []float64
	for _, l := range layers {
		if l.HasWeightStats() && !math.IsNaN(l.SQNR) && !math.IsInf(l.SQNR, 0) {
			finite = append(finite, l.SQNR)
		}
	}
	top := 10.0
	for _, v := range finite {
		top = max(top, v)
	}
	// Past chartMaxDB the axis stops growing and longer bars are cut at its end; their
	// labels still give the value.
	top = min(top, chartMaxDB)
	step := niceStep(top / 6)
	ticks := int(math.Ceil(top / step))
	top = float64(ticks) * step
	for i := range ticks + 1 {
		v := float64(i) * step
		c.Ticks = append(c.Ticks, chartTick{X: c.PlotX + v/top*c.PlotW, Label: formatNumber(v)})
	}
	if len(finite) > 0 {
		c.Median, c.HasMedian = median(finite), true
		c.MedianX = c.PlotX + math.Max(0, c.Median)/top*c.PlotW
	}

	for i, l := range layers {
		y := chartTop + float64(i)*chartRowH
		r := sqnrRow{Y: y, BarY: y + (chartRowH-chartBarH)/2, TextY: y + chartRowH/2 + 4, Name: l.Name}
		r.Label = shortenMiddle(l.Name, chartMaxLabel)
		c.ShortenedLabels = c.ShortenedLabels || r.Label != l.Name
		switch {
		case !l.Quantized:
			r.Skipped, r.Class, r.Note = true, "skipped", l.floatNote()
			c.HasSkipped = true
		case l.NoWeight:
			r.Class, r.Value = "bar", notAvailable+" (no stored weight)"
		case math.IsNaN(l.SQNR):
			r.Class, r.Value = "bar", "nan"
		case math.IsInf(l.SQNR, 1):
			r.Class, r.BarW, r.Value = "bar", c.PlotW, "inf (exact)"
		default:
			r.Class = "bar"
			if c.HasMedian && l.SQNR < c.Median-outlierDB {
				r.Class = "bar outlier"
				c.HasOutliers = true
			}
			r.BarW = math.Max(0, math.Min(l.SQNR, top)) / top * c.PlotW
			r.Value = formatDB(l.SQNR) + " dB"
		}
		r.ValueX = c.PlotX + r.BarW + 6
		c.Rows = append(c.Rows, r)
	}
	c.LegendY = c.AxisY + 38
	return c
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// shortenMiddle keeps the start and the end of a long name, where layer names carry the
// block and the projection ("model.layers.31.self_attn.q_proj").
func shortenMiddle(s string, limit int) string {
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	head := (limit - 1) / 2
	tail := limit - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// sparkline is a small bar histogram.
type sparkline struct {
	Width, Height float64
	Bars          []sparkBar
	ZeroX         float64
	HasZero       bool
	Min, Max      string
	Total         int64
	NonFinite     int64
}

type sparkBar struct{ X, Y, W, H float64 }

const (
	sparkWidth  = 150.0
	sparkHeight = 30.0
	sparkBins   = 50
)

func newSparkline(h *Histogram) *sparkline {
	if h == nil || len(h.Counts) == 0 {
		return nil
	}
	bins := h.Rebin(sparkBins)
	s := &sparkline{Width: sparkWidth, Height: sparkHeight, Min: formatNumber(h.Min), Max: formatNumber(h.Max),
		Total: h.Total(), NonFinite: h.NonFinite}
	peak := slices.Max(bins.Counts)
	w := sparkWidth / float64(len(bins.Counts))
	for i, n := range bins.Counts {
		if n == 0 || peak == 0 {
			continue
		}
		// At least one unit tall, so that a lone outlier in the tail stays visible.
		bh := math.Max(1, float64(n)/float64(peak)*(sparkHeight-1))
		s.Bars = append(s.Bars, sparkBar{X: float64(i) * w, Y: sparkHeight - bh, W: math.Max(w-0.5, 0.5), H: bh})
	}
	if h.Min < 0 && h.Max > 0 && !math.IsInf(h.Min, 0) && !math.IsInf(h.Max, 0) {
		s.HasZero = true
		s.ZeroX = -h.Min / (h.Max - h.Min) * sparkWidth
	}
	return s
}
