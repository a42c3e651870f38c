package quantize

import (
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
)

// weightStats are a quantized weight's figures in the report: the error of its
// dequantized values against the source, the range of its stored scales and the
// histogram of its source values. Report measures them in a pass of its own; Save
// measures them from the values and codes it already holds, so that a report asked for
// after a save reads nothing again (but for histograms the streaming save deferred:
// streamweight.go). Both give the same figures.
type weightStats struct {
	errors             quant.Errors
	scaleMin, scaleMax float64
	histogram          *report.Histogram
}

// fill copies the statistics into a report row.
func (s *weightStats) fill(row *report.Layer) {
	row.SQNR, row.MSE, row.MaxAbsErr, row.Cosine = s.errors.SQNR, s.errors.MSE, s.errors.MaxAbs, s.errors.Cosine
	row.ScaleMin, row.ScaleMax = s.scaleMin, s.scaleMax
	row.Histogram = s.histogram
}

// minRunElems is the shortest run of one scale that the fused statistics measure straight
// from the codes; shorter runs (channels interleaved element by element) are dequantized
// into a block first.
const minRunElems = 8

// stats measures a quantized weight in one parallel pass over disjoint chunks of
// chunkElems elements (after a range pass for the histogram): each chunk dequantizes its
// codes in registers (integer schemes with runs of one scale, fp8 with runs of a multiple
// of 8) or into a per-worker scratch block (casts, interleaved channels), accumulates the
// error sums in float64 (quant.StatsAcc.AddCodes, AddFP8 and AddFloats: the reference
// loop's figures up to float64
// summation order), and counts its source values into the worker's histogram with the
// float32 bin formula of report.Binning, so the counts are those of report.NewHistogram on
// the same values. quant.Meter merges the chunks in chunk order, so the result does not
// depend on scheduling. The streaming save (stream.go) measures the same way chunk by
// chunk, with the range of the whole tensor from its first pass.
func (lw *layerWork) stats(bins int) *weightStats {
	x := lw.x
	n := len(x)
	if n == 0 {
		s := &weightStats{errors: quant.ErrorSums{}.Errors(), histogram: report.NewHistogram(nil, bins)}
		s.scaleMin, s.scaleMax = lw.scaleRange()
		return s
	}
	lo, hi, err := quant.MinMaxOf(x)
	if err != nil {
		// The weight was checked before quantizing; measure it the slow way anyway.
		lo, hi = minMax(x)
	}
	blocks := (n + chunkElems - 1) / chunkElems
	sp := lw.planStats(lo, hi, bins, blocks)
	scratch := make([][]float32, parallel.Workers())
	parallel.For(blocks, 4*n, func(b, worker int) error {
		if scratch[worker] == nil && !sp.fused {
			scratch[worker] = make([]float32, chunkElems)
		}
		a, z := b*chunkElems, min((b+1)*chunkElems, n)
		sp.meter.SetPiece(b, lw.blockStats(sp, a, z, sp.counts(worker), scratch[worker]))
		return nil
	})
	return sp.result(lw)
}

// statsPlan is how a weight's statistics are measured, fixed by the range of the whole
// weight: the histogram's bins, which kernels run and the meter that gathers the pieces.
type statsPlan struct {
	h       *report.Histogram
	binning report.Binning
	fused   bool // codes are dequantized in registers (AddCodes, AddFP8)
	meter   *quant.Meter
}

// planStats plans the statistics, in pieces pieces, of a weight whose values lie in
// [lo, hi].
func (lw *layerWork) planStats(lo, hi float32, bins, pieces int) statsPlan {
	h := &report.Histogram{Min: float64(lo), Max: float64(hi), Counts: make([]int64, bins)}
	binning := h.Binning()
	fused := binning.F32 && lw.ws.kind == kindInt && (lw.idx.mode != 1 || lw.idx.inner >= minRunElems)
	// fp8 codes decode in registers too when every run of one scale starts a whole number
	// of 8-lane vectors into the block, so that AddFP8 run by run sums exactly as AddFloats
	// over the dequantized block did.
	fused = fused || binning.F32 && lw.ws.kind == kindFP8 && lw.idx.runsOf8()
	return statsPlan{h: h, binning: binning, fused: fused, meter: quant.NewMeter(pieces, bins)}
}

// planErrors plans the statistics, in pieces pieces, of a weight whose range is not known
// yet (the streaming save's one pass): the error sums alone, with the kernels planStats
// chooses for every range whose Binning has the float32 form, and no histogram (h nil:
// counts gives the kernels nil counts, and they count nothing).
func (lw *layerWork) planErrors(pieces int) statsPlan {
	sp := lw.planStats(0, 1, HistogramBins, pieces)
	sp.h = nil
	return sp
}

// counts are the histogram counts worker bins into, nil when the plan has no histogram.
func (sp statsPlan) counts(worker int) []int64 {
	if sp.h == nil {
		return nil
	}
	return sp.meter.Counts(worker)
}

// result is the statistics of every piece measured, with lw's scale range (and no
// histogram from a plan without one).
func (sp statsPlan) result(lw *layerWork) *weightStats {
	s := &weightStats{histogram: sp.h}
	var counts []int64
	s.errors, counts = sp.meter.Result()
	if sp.h != nil {
		sp.h.Counts = counts
	}
	s.scaleMin, s.scaleMax = lw.scaleRange()
	return s
}

// blockStats measures elements [a, z) of lw (at most chunkElems) into counts and returns
// their error sums. scratch holds chunkElems values unless sp.fused.
func (lw *layerWork) blockStats(sp statsPlan, a, z int, counts []int64, scratch []float32) quant.ErrorSums {
	x := lw.x
	var sums quant.ErrorSums
	if sp.fused {
		var acc quant.StatsAcc
		lw.forRuns(a, z-a, func(r0, r1, k int) {
			if lw.ws.kind == kindFP8 {
				acc.AddFP8(counts, x[r0:r1], lw.fp8[r0:r1], lw.scales[k], lw.ws.target, sp.binning.Lo, sp.binning.Inv)
				return
			}
			acc.AddCodes(counts, x[r0:r1], lw.codes[r0:r1], lw.p.Scale[k], lw.p.ZeroPoint[k]-lw.ws.shift, sp.binning.Lo, sp.binning.Inv)
		})
		return acc.Sums()
	}
	y := scratch[:z-a]
	lw.dequantizeTo(y, a)
	if sp.binning.F32 {
		var acc quant.StatsAcc
		acc.AddFloats(counts, x[a:z], y, sp.binning.Lo, sp.binning.Inv)
		return acc.Sums()
	}
	sums.Add(x[a:z], y)
	if counts != nil {
		slow := &report.Histogram{Min: sp.h.Min, Max: sp.h.Max, Counts: counts[:len(sp.h.Counts)]}
		slow.Add(x[a:z])
	}
	return sums
}

// minMax is the range of finite x (the weights were checked before quantizing).
func minMax(x []float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}
