package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Number formats shared by the table, the HTML page and Diff, so that the same value
// reads the same everywhere.

// notAvailable stands for a figure that does not exist, such as the weight SQNR of a layer
// that stores no weight (Layer.NoWeight).
const notAvailable = "—"

// formatNumber gives 4 significant digits, in scientific notation below 1e-3 or from 1e5.
func formatNumber(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	if v == 0 {
		return "0"
	}
	if a := math.Abs(v); a < 1e-3 || a >= 1e5 {
		return strconv.FormatFloat(v, 'e', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatDB gives decibels with two decimals; +Inf (an exact copy) reads "inf".
func formatDB(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatCosine keeps six decimals: quantized weights sit at 0.99xxxx, where %.4g would
// show every layer as 1.
func formatCosine(v float64) string {
	if s, ok := nonFinite(v); ok {
		return s
	}
	return strconv.FormatFloat(v, 'f', 6, 64)
}

func formatPercent(fraction float64) string {
	if s, ok := nonFinite(fraction); ok {
		return s
	}
	return strconv.FormatFloat(100*fraction, 'f', 2, 64) + "%"
}

func nonFinite(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "nan", true
	case math.IsInf(v, 1):
		return "inf", true
	case math.IsInf(v, -1):
		return "-inf", true
	}
	return "", false
}

// FormatBytes is qscript's one byte-size format, in binary units (1 KiB = 1024 bytes): exact
// bytes below 1 KiB, three significant figures above ("1.50 KiB", "186 KiB", "15.0 GiB").
// Reports, `qscript inspect` and the GGUF converter's summary all print sizes with it.
func FormatBytes[N int64 | uint64](n N) string {
	const unit = 1024
	v := float64(n)
	if math.Abs(v) < unit {
		return fmt.Sprintf("%d B", n)
	}
	suffixes := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	v /= unit
	i := 0
	for math.Abs(v) >= unit && i < len(suffixes)-1 {
		v /= unit
		i++
	}
	decimals := 0
	switch a := math.Abs(v); {
	case a < 10:
		decimals = 2
	case a < 100:
		decimals = 1
	}
	return strconv.FormatFloat(v, 'f', decimals, 64) + " " + suffixes[i]
}

func formatRatio(r float64) string {
	if r == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "×"
}

// FormatShape writes a shape as the report and `qscript inspect` show it: "[64, 128]".
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// conversion reads "F32 → int8" for a quantized layer and "F32" for one left in float.
func (l *Layer) conversion() string {
	if !l.Quantized || l.QDType == "" {
		return l.DType
	}
	return l.DType + " → " + l.QDType
}

// skipNote reads "skipped: first_conv".
func (l *Layer) skipNote() string {
	if l.Reason == "" {
		return "skipped"
	}
	return "skipped: " + l.Reason
}

// floatNote reads "kept in float: first_conv", for the page, where "skipped" would
// leave open what happened to the layer.
func (l *Layer) floatNote() string {
	if l.Reason == "" {
		return "kept in float"
	}
	return "kept in float: " + l.Reason
}

func (t Totals) bytesLine() string {
	return fmt.Sprintf("%s → %s (%s)", FormatBytes(t.BytesBefore), FormatBytes(t.BytesAfter), formatRatio(t.Ratio))
}

func (t Totals) countLine() string {
	noun := "layers"
	if t.Layers == 1 {
		noun = "layer"
	}
	return fmt.Sprintf("%d %s: %d quantized, %d skipped", t.Layers, noun, t.Quantized, t.Skipped)
}

// scaleRange gives the scale columns, or dashes for a cast, which has no scale.
func (l *Layer) scaleRange() (lo, hi string) {
	if l.ScaleMin == 0 && l.ScaleMax == 0 {
		return "-", "-"
	}
	return formatNumber(l.ScaleMin), formatNumber(l.ScaleMax)
}

func (r *Report) title() string {
	if r.Title == "" {
		return "qscript report"
	}
	return r.Title
}
