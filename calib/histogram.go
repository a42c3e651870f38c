package calib

import (
	"math"

	"github.com/qscript-dev/qscript/report"
)

// displayBins is the resolution of the activation histograms kept for the report.
const displayBins = 256

// displayHistogram is a streaming histogram for the report, in constant memory: bins of
// width w on a grid anchored at 0, covering [-displayBins/2·w, displayBins/2·w). When a
// batch falls outside, w doubles and pairs of bins merge; since 0 is a bin edge the
// pairs merge exactly, so the counts never depend on how the data was batched except
// through the width the first batch sets.
type displayHistogram struct {
	width  float64
	counts [displayBins]int64
	lo, hi float32
	seen   bool
}

func (h *displayHistogram) add(values []float32) {
	if len(values) == 0 {
		return
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range values {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	if math.IsInf(float64(lo), 0) || math.IsInf(float64(hi), 0) || lo != lo || hi != hi {
		return // the observers refuse non-finite data before the report sees it
	}
	if !h.seen {
		h.seen = true
		h.lo, h.hi = lo, hi
		absMax := math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
		if absMax == 0 {
			absMax = 1
		}
		// A power of two, so that doubling stays exact.
		h.width = math.Exp2(math.Ceil(math.Log2(absMax / (displayBins / 2))))
	} else {
		h.lo, h.hi = min(h.lo, lo), max(h.hi, hi)
	}
	for float64(h.lo) < -displayBins/2*h.width || float64(h.hi) >= displayBins/2*h.width {
		h.grow()
	}
	half := displayBins / 2
	for _, v := range values {
		i := int(math.Floor(float64(v)/h.width)) + half
		h.counts[min(max(i, 0), displayBins-1)]++
	}
}

// grow doubles the bin width: bins 2k and 2k+1 of each half (counted from 0 outwards)
// merge into bin k of that half.
func (h *displayHistogram) grow() {
	half := displayBins / 2
	var next [displayBins]int64
	for i, c := range h.counts {
		j := i - half // position relative to 0: bin covers [j·w, (j+1)·w)
		nj := int(math.Floor(float64(j) / 2))
		next[nj+half] += c
	}
	h.counts = next
	h.width *= 2
}

// report returns the non-empty span of the histogram.
func (h *displayHistogram) report() *report.Histogram {
	if !h.seen {
		return nil
	}
	first, last := -1, -1
	for i, c := range h.counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	half := displayBins / 2
	return &report.Histogram{
		Min:    float64(first-half) * h.width,
		Max:    float64(last+1-half) * h.width,
		Counts: append([]int64(nil), h.counts[first:last+1]...),
	}
}
