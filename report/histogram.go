package report

import "math"

// DefaultBins is the number of bins NewHistogram uses when asked for fewer than one.
const DefaultBins = 64

// Histogram counts values in equal-width bins over [Min, Max]: bin i holds the values v
// with Min + i·w <= v < Min + (i+1)·w, where w = (Max-Min)/len(Counts), and the last bin
// also holds v == Max. When every value is equal, Min == Max and they are all in Counts[0].
// NaN and ±Inf are not binned; NonFinite counts them.
type Histogram struct {
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Counts    []int64 `json:"counts"`
	NonFinite int64   `json:"non_finite,omitempty"`
}

// NewHistogram bins values into bins equal-width bins over their finite range. It reads
// values twice (range, then counts) and allocates only the counts. With no finite value,
// Min and Max are 0 and every count is 0.
func NewHistogram(values []float32, bins int) *Histogram {
	if bins < 1 {
		bins = DefaultBins
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		lo = math.Min(lo, f)
		hi = math.Max(hi, f)
	}
	if lo > hi { // no finite value
		lo, hi = 0, 0
	}
	h := &Histogram{Min: lo, Max: hi, Counts: make([]int64, bins)}
	h.Add(values)
	return h
}

// Add counts more values into the existing bins. Values outside [Min, Max] go to the
// first or last bin, so a histogram built from a range known in advance (an observer's)
// can be filled in one pass.
func (h *Histogram) Add(values []float32) {
	n := len(h.Counts)
	if n == 0 {
		return
	}
	width := (h.Max - h.Min) / float64(n)
	for _, v := range values {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			h.NonFinite++
			continue
		}
		h.Counts[h.bin(f, width)]++
	}
}

func (h *Histogram) bin(v, width float64) int {
	last := len(h.Counts) - 1
	switch {
	case !(width > 0) || v <= h.Min:
		return 0
	case v >= h.Max:
		// Far outside a narrow range the quotient below would overflow int.
		return last
	}
	return min(int((v-h.Min)/width), last)
}

// Total is the number of binned values.
func (h *Histogram) Total() int64 {
	var t int64
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// Rebin merges adjacent bins so that at most bins remain, for display. Bin i of the result
// sums the source bins [i·n/bins, (i+1)·n/bins); when n is not a multiple of bins the
// merged bins differ in width by one source bin. The receiver is unchanged.
func (h *Histogram) Rebin(bins int) *Histogram {
	n := len(h.Counts)
	out := &Histogram{Min: h.Min, Max: h.Max, NonFinite: h.NonFinite}
	if bins < 1 || n <= bins {
		out.Counts = append([]int64(nil), h.Counts...)
		return out
	}
	out.Counts = make([]int64, bins)
	for i := range bins {
		for _, c := range h.Counts[i*n/bins : (i+1)*n/bins] {
			out.Counts[i] += c
		}
	}
	return out
}
