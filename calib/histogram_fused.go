package calib

import (
	"math"

	"github.com/qscript-dev/qscript/quant"
)

// extremes holds eight lanes each of the least and the greatest values a kernel met and
// of a NaN flag (all ones where it met a NaN).
type extremes [24]float32

func newExtremes() (e extremes) {
	for i := range 8 {
		e[i], e[8+i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	return e
}

// reduce returns the least and greatest of the lanes and whether a NaN was met.
func (e *extremes) reduce() (lo, hi float32, nan bool) {
	lo, hi = e[0], e[8]
	for i := range 8 {
		lo, hi = min(lo, e[i]), max(hi, e[8+i])
		nan = nan || math.Float32bits(e[16+i]) != 0
	}
	return lo, hi, nan
}

// tallies is the scratch of tallyExtremes: counts not yet kept and room for a chunk's bins.
type tallies struct {
	sets [countSets][displayBins]int64
	idx  [1024]int32
}

// canTally reports whether tallyExtremes can count a batch: the histogram has a width (the
// first batch sets it) that the float32 kernel takes.
func (h *displayHistogram) canTally() bool { return h.seen && float32Bins(1/h.width) }

// tallyExtremes counts values into scratch sets with the current width, the grid's end
// bins taking what falls outside, and finds their extremes in the same pass, as
// quant.FiniteMinMax does (finite false: a NaN or an infinity). The counts are kept
// (added to counts, counted true) only when the extremes are finite and inside the grid;
// otherwise the caller counts the values again once the grid holds them (addWithin).
// canTally must hold.
func (h *displayHistogram) tallyExtremes(values []float32) (lo, hi float32, finite, counted bool) {
	if h.scratch == nil {
		h.scratch = new(tallies)
	}
	p := h.scratch
	inv := 1 / h.width
	half := displayBins / 2
	acc := newExtremes()
	rest := values
	for len(rest) >= 8 {
		chunk := rest[:min(len(rest), len(p.idx))]
		done, kept := displayBinsExtremes(p.idx[:], chunk, inv, &acc)
		p.sets[0][half] += int64(done - kept) // the zeros, left out of idx
		countBins(&p.sets, p.idx[:kept])
		rest = rest[done:]
	}
	lo, hi, nan := acc.reduce()
	for _, v := range rest {
		lo, hi = min(lo, v), max(hi, v) // Go's min and max propagate NaN
		i := int(math.Floor(float64(v)*inv)) + half
		p.sets[0][min(max(i, 0), displayBins-1)]++
	}
	finite = !nan && lo-lo == 0 && hi-hi == 0
	if finite {
		lo, hi = quant.ZeroSigns(values, lo, hi)
	}
	counted = finite && float64(lo) >= -displayBins/2*h.width && float64(hi) < displayBins/2*h.width
	if counted {
		h.within(lo, hi) // no growth: the grid already holds them
	}
	for k := range p.sets {
		if counted {
			for i, c := range p.sets[k] {
				h.counts[i] += c
			}
		}
		clear(p.sets[k][:])
	}
	return lo, hi, finite, counted
}
