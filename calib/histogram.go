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
	width   float64
	counts  [displayBins]int64
	lo, hi  float32
	seen    bool
	scratch *tallies // tallyExtremes's, once it runs
}

func (h *displayHistogram) add(values []float32) {
	if len(values) == 0 {
		return
	}
	// One branch-free min/max pass: v-v is NaN for an infinity or a NaN, so bad flags both.
	lo, hi := values[0], values[0]
	var bad float32
	for _, v := range values {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
		bad += v - v
	}
	if bad != 0 {
		return // the observers refuse non-finite data before the report sees it
	}
	h.addWithin(values, lo, hi)
}

// addWithin is add of values whose extremes, both finite, are lo and hi.
func (h *displayHistogram) addWithin(values []float32, lo, hi float32) {
	h.within(lo, hi)
	h.count(values)
}

// within widens the grid to hold values whose extremes, both finite, are lo and hi.
func (h *displayHistogram) within(lo, hi float32) {
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
}

// count adds values, all inside the grid, to the bins (AVX2 computes the bins eight or four
// at a time where present: displayBinsPrefix). The width is a power of two, so
// multiplying by its reciprocal is exact (a float32 times 2^k stays a normal float64) and
// gives the quotient bit for bit. Interleaved sets of counters keep runs of equal values
// from waiting on each other's increments; zeros (half of a ReLU's outputs) are counted
// apart.
func (h *displayHistogram) count(values []float32) {
	inv := 1 / h.width
	half := displayBins / 2
	var sub [countSets][displayBins]int64
	bin := func(v float32) int {
		i := int(math.Floor(float64(v)*inv)) + half
		return min(max(i, 0), displayBins-1)
	}
	var idx [1024]int32
	for len(values) >= 4 && haveAVX2 {
		chunk := values[:min(len(values), len(idx))]
		done, kept := displayBinsPrefix(idx[:], chunk, inv)
		if done == 0 {
			break
		}
		sub[0][half] += int64(done - kept) // the zeros, left out of idx
		countBins(&sub, idx[:kept])
		values = values[done:]
	}
	n := len(values) &^ 3
	for j := 0; j < n; j += 4 {
		v := values[j : j+4 : j+4]
		sub[0][bin(v[0])]++
		sub[1][bin(v[1])]++
		sub[2][bin(v[2])]++
		sub[3][bin(v[3])]++
	}
	for _, v := range values[n:] {
		sub[0][bin(v)]++
	}
	for i := range h.counts {
		for k := range sub {
			h.counts[i] += sub[k][i]
		}
	}
}

// countSets is the number of interleaved counter sets count uses.
const countSets = 8

// countBins counts the bins idx (in [0, displayBins)) into the interleaved sets, eight at
// a time, and the last four or fewer into the first sets.
func countBins(sub *[countSets][displayBins]int64, idx []int32) {
	n := len(idx) &^ 7
	for j := 0; j < n; j += 8 {
		b := idx[j : j+8 : j+8]
		sub[0][b[0]&(displayBins-1)]++
		sub[1][b[1]&(displayBins-1)]++
		sub[2][b[2]&(displayBins-1)]++
		sub[3][b[3]&(displayBins-1)]++
		sub[4][b[4]&(displayBins-1)]++
		sub[5][b[5]&(displayBins-1)]++
		sub[6][b[6]&(displayBins-1)]++
		sub[7][b[7]&(displayBins-1)]++
	}
	for k, b := range idx[n:] {
		sub[k][b&(displayBins-1)]++
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
