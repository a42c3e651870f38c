package quant

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// Histogram is torch 1.13's HistogramObserver (torch.ao.quantization.observer), with
// the same float32/float64 arithmetic step by step so that its scale and zero point
// equal torch's bit for bit:
//
//   - The first batch (or any batch after a constant one) sets min/max and fills a
//     2048-bin histogram with torch.histc. Like torch 1.13, histc is given
//     int(min) and int(max): the bin edges are the range truncated toward zero, values
//     outside them are dropped, and when both truncate to the same integer histc
//     uses the batch's own min and max instead.
//   - A later batch that widens the range is merged by _adjust_min_max and
//     _combine_histograms: the old histogram is upsampled 128x onto a grid of
//     width (max-min)/(2048*128), the combined max is widened to a whole number of
//     downsampled bins, and the grid is integrated in float64 and cut into 2048 bins.
//   - QParams runs _non_linear_param_search (L2 error model, steps of 1e-5 of the
//     mass, narrowing from the side that drops more, stopping when the error grows)
//     and feeds the narrowed range to CalculateQParams.
//
// Memory is two histograms of Bins float32 whatever the number of batches.
// Histogram is not safe for concurrent use.
type Histogram struct {
	scheme       Scheme
	bins         int
	upsampleRate int
	dstBins      float64 // 2^bits of the quantized type, torch's dst_nbins

	min, max float32
	hist     []float32 // the running histogram over [min, max]
	fresh    []float32 // scratch: the new batch's histc
	counts   []uint32  // scratch: integer counts of one histc, histcSets interleaved sets
}

// Default HistogramObserver settings of torch 1.13.
const (
	DefaultHistogramBins = 2048
	DefaultUpsampleRate  = 128
)

// maxTorchGridCells bounds bins*downsample_rate, the length of the upsampled grid torch
// would allocate when merging; beyond it the range grew by an absurd factor.
const maxTorchGridCells = 1 << 50

// NewHistogram returns torch's HistogramObserver with 2048 bins and upsample rate 128.
func NewHistogram(s Scheme) *Histogram {
	h, err := NewHistogramBins(s, DefaultHistogramBins, DefaultUpsampleRate)
	if err != nil {
		panic(err) // the defaults are valid
	}
	return h
}

// NewHistogramBins returns a HistogramObserver with the given bin count and upsample
// rate (torch's bins and upsample_rate arguments).
func NewHistogramBins(s Scheme, bins, upsampleRate int) (*Histogram, error) {
	if bins < 1 || bins > 1<<20 {
		return nil, fmt.Errorf("quant: histogram bins %d out of range 1..%d", bins, 1<<20)
	}
	if upsampleRate < 1 || upsampleRate > 1<<16 {
		return nil, fmt.Errorf("quant: histogram upsample rate %d out of range 1..%d", upsampleRate, 1<<16)
	}
	if s.QType.Bits < 1 || s.QType.Bits > 32 {
		return nil, fmt.Errorf("quant: histogram observer needs a quantized type of 1..32 bits, got %d", s.QType.Bits)
	}
	return &Histogram{
		scheme:       s,
		bins:         bins,
		upsampleRate: upsampleRate,
		dstBins:      math.Ldexp(1, s.QType.Bits),
		min:          float32(math.Inf(1)),
		max:          float32(math.Inf(-1)),
		hist:         make([]float32, bins),
		fresh:        make([]float32, bins),
		counts:       make([]uint32, histcSets*bins),
	}, nil
}

// Observe folds one batch into the histogram (HistogramObserver.forward).
func (h *Histogram) Observe(t *tensor.Tensor) error {
	x, err := observedFloats(t)
	if err != nil {
		return err
	}
	if len(x) == 0 {
		return nil
	}
	lo, hi, ok := finiteMinMax(x)
	if !ok {
		// torch fails here too: int(nan) and int(inf) raise in forward.
		return findNonFinite(x, 0)
	}
	return h.ObserveWithExtremes(x, lo, hi)
}

// ObserveWithExtremes is Observe of x, whose extremes lo and hi (both finite) the caller
// found (FiniteMinMax): calibration's report histogram needs them too, and one pass over
// the activation serves both.
func (h *Histogram) ObserveWithExtremes(x []float32, lo, hi float32) error {
	if len(x) == 0 {
		return nil
	}
	uninitialized := math.IsInf(float64(h.min), 1) && math.IsInf(float64(h.max), -1)
	if uninitialized || h.min == h.max {
		// A constant history is discarded, as torch's same_values branch does.
		h.histc(h.hist, x, lo, hi, lo, hi)
		h.min, h.max = lo, hi
		return nil
	}
	return h.merge(x, lo, hi)
}

// merge is the else-branch of HistogramObserver.forward.
func (h *Histogram) merge(x []float32, lo, hi float32) error {
	combinedMin := min(lo, h.min)
	combinedMax := max(hi, h.max)

	// _adjust_min_max, all float32 tensor arithmetic.
	fineWidth := (h.max - h.min) / float32(h.bins*h.upsampleRate)
	coarseSpan := float32(float32(h.bins) * fineWidth)
	ratio := float32(math.Ceil(float64((combinedMax - combinedMin) / coarseSpan)))
	if math.IsNaN(float64(ratio)) || math.IsInf(float64(ratio), 0) || float64(ratio)*float64(h.bins) > maxTorchGridCells {
		return fmt.Errorf("quant: histogram range grew from [%g, %g] to [%g, %g], too far to merge",
			h.min, h.max, combinedMin, combinedMax)
	}
	downsampleRate := int64(ratio)
	excess := float32(float32(downsampleRate)*coarseSpan) - (combinedMax - combinedMin)
	combinedMax += excess
	startIdx := int64(torchRoundF32((h.min - combinedMin) / fineWidth))

	h.histc(h.fresh, x, lo, hi, combinedMin, combinedMax)
	if combinedMin == h.min && combinedMax == h.max {
		for i, v := range h.hist {
			h.fresh[i] += v
		}
	} else {
		h.combine(h.fresh, h.hist, downsampleRate, startIdx)
	}
	h.hist, h.fresh = h.fresh, h.hist
	h.min, h.max = combinedMin, combinedMax
	return nil
}

// histc fills dst with torch.histc(x, bins, min=int(edgeLo), max=int(edgeHi)), where
// xMin and xMax are the batch's own extremes (histc's fallback range).
func (h *Histogram) histc(dst, x []float32, xMin, xMax, edgeLo, edgeHi float32) {
	// Python's int() truncates toward zero; the Scalar reaches histc as a double.
	left64 := math.Trunc(float64(edgeLo))
	right64 := math.Trunc(float64(edgeHi))
	if left64 == right64 {
		left64, right64 = float64(xMin), float64(xMax)
	}
	if left64 == right64 {
		left64--
		right64++
	}
	// linspace's first and last edges are the endpoints converted to float32.
	left, right := float32(left64), float32(right64)
	span := right - left
	nb := float32(h.bins)
	clear(h.counts)
	bins := h.bins
	// Four sets of counters, summed at the end, keep runs of equal values (a ReLU's zeros)
	// from waiting on each other's increments.
	c0, c1, c2, c3 := h.counts[:bins], h.counts[bins:2*bins], h.counts[2*bins:3*bins], h.counts[3*bins:4*bins]
	last := bins - 1
	bin := func(v float32) int {
		if !(v >= left && v <= right) {
			return -1
		}
		// HistogramKernel.cpp LINEAR_INTERPOLATION: (elt - left) * bins / (right - left).
		pos := float32(float32(v-left)*nb) / span
		switch {
		case pos >= float32(last):
			return last // includes the right edge; also guards against an inf quotient
		case pos > 0:
			return int(pos)
		}
		return 0
	}
	if haveAVX2 {
		// Bins eight at a time (the division dominates), counted; zeros (a ReLU's half) at once.
		var idx [1024]int32
		for len(x) > 0 {
			chunk := x[:min(len(x), len(idx))]
			done, kept, zeros := histcIndexPrefix(idx[:], chunk, left, right, nb, span, float32(last))
			if i := bin(0); i >= 0 {
				c0[i] += uint32(zeros) // left out of idx, as are the values outside
			}
			countBins(c0, c1, c2, c3, idx[:kept])
			for _, v := range chunk[done:] {
				if i := bin(v); i >= 0 {
					c0[i]++
				}
			}
			x = x[len(chunk):]
		}
	}
	n := len(x) &^ 3
	for j := 0; j < n; j += 4 {
		v := x[j : j+4 : j+4]
		if i := bin(v[0]); i >= 0 {
			c0[i]++
		}
		if i := bin(v[1]); i >= 0 {
			c1[i]++
		}
		if i := bin(v[2]); i >= 0 {
			c2[i]++
		}
		if i := bin(v[3]); i >= 0 {
			c3[i]++
		}
	}
	for _, v := range x[n:] {
		if i := bin(v); i >= 0 {
			c0[i]++
		}
	}
	for i := range dst {
		c := uint64(c0[i]) + uint64(c1[i]) + uint64(c2[i]) + uint64(c3[i])
		// The kernel adds 1.0f per element, so a float32 count stops at 2^24.
		dst[i] = float32(min(c, 1<<24))
	}
}

// countBins counts the bins idx (none outside the range) into four interleaved counter sets.
func countBins(c0, c1, c2, c3 []uint32, idx []int32) {
	n := len(idx) &^ 3
	for j := 0; j < n; j += 4 {
		b := idx[j : j+4 : j+4]
		c0[b[0]]++
		c1[b[1]]++
		c2[b[2]]++
		c3[b[3]]++
	}
	for _, i := range idx[n:] {
		c0[i]++
	}
}

// histcSets is the number of interleaved counter sets histc counts into.
const histcSets = 4

// combine is HistogramObserver._combine_histograms: old is upsampled by repetition into
// a grid of bins*downsampleRate cells starting at startIdx, integrated with a float64
// cumsum, sampled every downsampleRate cells, differenced against the float32-rounded
// previous sample, divided by the upsample rate and added to dst in float32. The grid
// is never materialized: only the cells that hold old data change the integral.
func (h *Histogram) combine(dst, old []float32, downsampleRate, startIdx int64) {
	up := int64(h.upsampleRate)
	cells := int64(h.bins) * up
	var integral float64
	var prevSample float32 // shifted_integral_histogram is float32
	cell := int64(0)       // next cell of the upsampled old histogram
	for k := range int64(h.bins) {
		end := (k + 1) * downsampleRate // grid cells [.., end) are integrated at sample k
		for cell < cells && startIdx+cell < end {
			integral += float64(old[cell/up])
			cell++
		}
		interpolated := (integral - float64(prevSample)) / float64(up)
		dst[k] += float32(interpolated)
		prevSample = float32(integral)
	}
	// Cells past the end of the grid would make torch's slice assignment fail; they are dropped.
}

// Range returns the histogram's range, [+Inf, -Inf] before any data.
func (h *Histogram) Range() (lo, hi []float32) {
	return []float32{h.min}, []float32{h.max}
}

// SearchRange returns the range chosen by torch's _non_linear_param_search, the one
// QParams quantizes. Before any data it is [+Inf, -Inf].
func (h *Histogram) SearchRange() (lo, hi float32) {
	if math.IsInf(float64(h.min), 1) && math.IsInf(float64(h.max), -1) {
		return h.min, h.max
	}
	return h.nonLinearParamSearch()
}

// QParams is HistogramObserver.calculate_qparams.
func (h *Histogram) QParams() (*QParams, error) {
	lo, hi := h.SearchRange()
	scale, zp, err := CalculateQParams([]float32{lo}, []float32{hi}, h.scheme)
	if err != nil {
		return nil, err
	}
	return &QParams{Scheme: h.scheme, Scale: scale, ZeroPoint: zp, Axis: -1}, nil
}

// stateFloats reports the number of float32 values the observer holds, for the test
// that memory stays constant.
func (h *Histogram) stateFloats() int { return len(h.hist) + len(h.fresh) + len(h.counts) + 2 }

// observedFloats checks that t is a float tensor and returns its elements as float32.
func observedFloats(t *tensor.Tensor) ([]float32, error) {
	if t == nil {
		return nil, errors.New("quant: observer given a nil tensor")
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("quant: observer needs a float tensor, got %v", t.DType)
	}
	return t.ToF32(), nil
}

// FiniteMinMax returns the extremes of x (torch.aminmax), with ok false when x holds a
// NaN or an infinity, for ObserveWithExtremes. x must not be empty.
func FiniteMinMax(x []float32) (lo, hi float32, ok bool) { return finiteMinMax(x) }

// finiteMinMax returns the extremes of x (torch.aminmax), with ok false when x holds a
// NaN or an infinity. It is the scalar loop of finiteMinMaxLoop, vectorized: only the sign
// of a zero extreme could differ (vector min and max pick either of -0 and +0), and the loop
// keeps the first zero it meets, since every value before it is on the far side of 0.
func finiteMinMax(x []float32) (lo, hi float32, ok bool) {
	lo, hi, ok = minMaxRow(x)
	if !ok {
		return lo, hi, false
	}
	lo, hi = ZeroSigns(x, lo, hi)
	return lo, hi, true
}

// ZeroSigns gives a zero extreme lo or hi of x, as vector min and max find it (either of
// -0 and +0), the sign of x's first zero, which the scalar loop keeps.
func ZeroSigns(x []float32, lo, hi float32) (float32, float32) {
	if lo == 0 || hi == 0 {
		z := x[slices.IndexFunc(x, func(v float32) bool { return v == 0 })]
		if lo == 0 {
			lo = z
		}
		if hi == 0 {
			hi = z
		}
	}
	return lo, hi
}

// finiteMinMaxLoop is finiteMinMax's scalar reference loop. Plain comparisons are several times faster than the min and max
// builtins, whose NaN handling the separate v-v check (NaN for NaN and ±Inf) replaces.
func finiteMinMaxLoop(x []float32) (lo, hi float32, ok bool) {
	lo, hi = x[0], x[0]
	var bad float32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
		bad += v - v
	}
	return lo, hi, bad == 0
}
