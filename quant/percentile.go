package quant

import (
	"fmt"
	"math"
	"sort"

	"github.com/qscript-dev/qscript/tensor"
)

// Percentile is ONNX Runtime's percentile calibrator (calibrate.py, HistogramCollector
// with method "percentile"), streaming in constant memory.
//
// By default, like ORT, it histograms |x| into 2048 bins spanning the first batch's
// [min|x|, max|x|], finds the first bin whose cumulative share reaches percentile/100,
// and uses that bin's left edge t as the range [-t, t]. With Signed it histograms x
// over ±max|x| and cuts (100-percentile)/2 percent from each side. Either way the
// range is then clipped to the data's own min and max, and turned into qparams by
// CalculateQParams with the observer's Scheme.
//
// Where this differs from ORT: ORT keeps every bin it ever creates, adding bins when a
// batch exceeds the range; we double the bin width instead (see ortGrid), so only
// batches that widen the range can move the result, by about one bin. NaN and Inf are
// rejected here; ORT skips NaN.
type Percentile struct {
	scheme Scheme
	opts   PercentileOptions
	grid   *ortGrid
	err    error // a bad option given to NewPercentile, reported by every call
}

// PercentileOptions configures a Percentile observer. Zero values take the defaults.
type PercentileOptions struct {
	// Percentile in (0, 100]; default DefaultPercentile.
	Percentile float64
	// Bins of the histogram; default 2048. Must be a multiple of 4.
	Bins int
	// Signed histograms x instead of |x| (ORT's symmetric=False).
	Signed bool
}

// DefaultPercentile is ORT's default percentile.
const DefaultPercentile = 99.999

// NewPercentile returns ORT's percentile calibrator at the given percentile (0 means
// the default 99.999). An invalid percentile makes Observe and QParams fail.
func NewPercentile(s Scheme, percentile float64) *Percentile {
	p, err := NewPercentileOptions(s, PercentileOptions{Percentile: percentile})
	if err != nil {
		return &Percentile{scheme: s, err: err}
	}
	return p
}

// NewPercentileOptions returns a percentile calibrator with explicit options.
func NewPercentileOptions(s Scheme, o PercentileOptions) (*Percentile, error) {
	if o.Percentile == 0 {
		o.Percentile = DefaultPercentile
	}
	if o.Bins == 0 {
		o.Bins = DefaultHistogramBins
	}
	if !(o.Percentile > 0 && o.Percentile <= 100) {
		return nil, fmt.Errorf("quant: percentile %v must be in (0, 100]", o.Percentile)
	}
	g, err := newORTGrid(o.Bins, o.Signed)
	if err != nil {
		return nil, err
	}
	return &Percentile{scheme: s, opts: o, grid: g}, nil
}

// Observe adds one batch to the histogram.
func (p *Percentile) Observe(t *tensor.Tensor) error {
	if p.err != nil {
		return p.err
	}
	x, err := observedFloats(t)
	if err != nil {
		return err
	}
	return p.grid.observe(x)
}

// Range returns the extremes of the data seen, [+Inf, -Inf] before any.
func (p *Percentile) Range() (lo, hi []float32) {
	if p.grid == nil {
		return []float32{float32(math.Inf(1))}, []float32{float32(math.Inf(-1))}
	}
	return []float32{p.grid.min}, []float32{p.grid.max}
}

// ClippedRange returns the range ORT's compute_percentile chooses, the one QParams
// quantizes; [+Inf, -Inf] before any data.
func (p *Percentile) ClippedRange() (lo, hi float32, err error) {
	if p.err != nil {
		return 0, 0, p.err
	}
	g := p.grid
	total := g.total()
	if !g.seen || total == 0 {
		return float32(math.Inf(1)), float32(math.Inf(-1)), nil
	}
	cdf := percentileCDF(g.counts, total)
	if g.signed {
		cut := (100.0 - p.opts.Percentile) / 200.0
		lo = g.edges[searchSortedLeft(cdf, cut)]
		hi = g.edges[searchSortedLeft(cdf, 1.0-cut)]
	} else {
		hi = g.edges[searchSortedLeft(cdf, p.opts.Percentile/100.0)]
		lo = -hi
	}
	lo, hi = g.clampToSeen(lo, hi)
	return lo, hi, nil
}

// QParams computes qparams for the percentile range.
func (p *Percentile) QParams() (*QParams, error) {
	lo, hi, err := p.ClippedRange()
	if err != nil {
		return nil, err
	}
	return qparamsPerTensor(lo, hi, p.scheme)
}

// percentileCDF is np.cumsum(hist / total): each count divided in float64, then a
// sequential float64 running sum.
func percentileCDF(counts []int64, total int64) []float64 {
	cdf := make([]float64, len(counts))
	var acc float64
	for i, c := range counts {
		acc += float64(c) / float64(total)
		cdf[i] = acc
	}
	return cdf
}

// searchSortedLeft is np.searchsorted(a, v): the first index with a[i] >= v, or len(a).
func searchSortedLeft(a []float64, v float64) int {
	return sort.Search(len(a), func(i int) bool { return a[i] >= v })
}

// qparamsPerTensor wraps CalculateQParams for one range.
func qparamsPerTensor(lo, hi float32, s Scheme) (*QParams, error) {
	scale, zp, err := CalculateQParams([]float32{lo}, []float32{hi}, s)
	if err != nil {
		return nil, err
	}
	return &QParams{Scheme: s, Scale: scale, ZeroPoint: zp, Axis: -1}, nil
}
