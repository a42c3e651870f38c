package quantize

import (
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
)

// weightStats are a quantized weight's figures in the report: the error of its
// dequantized values against the source, the range of its stored scales and the
// histogram of its source values. Report measures them in a pass of its own; Save
// measures them from the values and codes it already holds, so that a report asked for
// after a save reads nothing again.
type weightStats struct {
	errors             quant.Errors
	scaleMin, scaleMax float64
	histogram          *report.Histogram
}

// stats measures a quantized weight.
func (lw *layerWork) stats(bins int) *weightStats {
	e, lo, hi := lw.compare()
	s := &weightStats{errors: e, histogram: lw.histogram(lo, hi, bins)}
	s.scaleMin, s.scaleMax = lw.scaleRange()
	return s
}

// fill copies the statistics into a report row.
func (s *weightStats) fill(row *report.Layer) {
	row.SQNR, row.MSE, row.MaxAbsErr, row.Cosine = s.errors.SQNR, s.errors.MSE, s.errors.MaxAbs, s.errors.Cosine
	row.ScaleMin, row.ScaleMax = s.scaleMin, s.scaleMax
	row.Histogram = s.histogram
}
