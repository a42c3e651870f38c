package quant

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// Entropy is ONNX Runtime's entropy calibrator (calibrate.py, HistogramCollector with
// method "entropy", get_entropy_threshold), streaming in constant memory.
//
// Data are histogrammed over ±max|x|. For every window of 2i+1 bins centred on the
// zero bin (i from QuantizedBins/2 to Bins/2) the reference distribution p is the
// window with the mass outside it folded into its end bins, and the candidate q is the
// window merged into QuantizedBins groups and spread back evenly (integer division)
// over each group's non-empty bins. Both are smoothed (zeros become 1e-4) and the
// window with the smallest KL(p||q) gives the range, clipped to the data's min and max.
// Like ORT, the arithmetic is numpy's: int64 counts, float32 smoothing, scipy's
// entropy with float32 pairwise sums.
//
// Defaults: 2048 bins and 128 quantized bins. ORT's create_calibrator defaults to
// num_bins = 128, which leaves a single window (the full range); set Bins to 128 for
// that. Streaming differs from ORT only after a batch widens the range (see ortGrid).
type Entropy struct {
	scheme Scheme
	opts   EntropyOptions
	grid   *ortGrid
}

// EntropyOptions configures an Entropy observer. Zero values take the defaults.
type EntropyOptions struct {
	Bins          int // histogram bins, default 2048, a multiple of 4
	QuantizedBins int // ORT's num_quantized_bins, default 128
}

// NewEntropy returns the entropy calibrator with 2048 bins and 128 quantized bins.
func NewEntropy(s Scheme) *Entropy {
	e, err := NewEntropyOptions(s, EntropyOptions{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return e
}

// NewEntropyOptions returns an entropy calibrator with explicit options.
func NewEntropyOptions(s Scheme, o EntropyOptions) (*Entropy, error) {
	if o.Bins == 0 {
		o.Bins = DefaultHistogramBins
	}
	if o.QuantizedBins == 0 {
		o.QuantizedBins = 128
	}
	if o.QuantizedBins < 2 || o.QuantizedBins/2 > o.Bins/2 {
		return nil, fmt.Errorf("quant: entropy needs 2 <= quantized bins (%d) <= bins (%d)", o.QuantizedBins, o.Bins)
	}
	g, err := newORTGrid(o.Bins, true)
	if err != nil {
		return nil, err
	}
	return &Entropy{scheme: s, opts: o, grid: g}, nil
}

// Observe adds one batch to the histogram.
func (e *Entropy) Observe(t *tensor.Tensor) error {
	x, err := observedFloats(t)
	if err != nil {
		return err
	}
	return e.grid.observe(x)
}

// Range returns the extremes of the data seen, [+Inf, -Inf] before any.
func (e *Entropy) Range() (lo, hi []float32) {
	return []float32{e.grid.min}, []float32{e.grid.max}
}

// QParams computes qparams for the minimum-KL range.
func (e *Entropy) QParams() (*QParams, error) {
	lo, hi := e.ClippedRange()
	return qparamsPerTensor(lo, hi, e.scheme)
}

// ClippedRange returns the range of minimum KL divergence, [+Inf, -Inf] before any data.
func (e *Entropy) ClippedRange() (lo, hi float32) {
	lo, hi, _, _ = e.search()
	return lo, hi
}

// search is get_entropy_threshold; it also returns the index of the chosen window and
// its divergence, for tests.
func (e *Entropy) search() (lo, hi float32, best int, bestKL float32) {
	g := e.grid
	if !g.seen {
		return float32(math.Inf(1)), float32(math.Inf(-1)), 0, 0
	}
	hist := g.counts
	n := len(hist)
	zero := n / 2
	halfQ := e.opts.QuantizedBins / 2
	ws := newKLWorkspace(n, e.opts.QuantizedBins)
	bestKL = float32(math.Inf(1))
	best = -1
	for i := halfQ; i <= zero; i++ {
		start := zero - i
		end := min(zero+i+1, n)
		kl := ws.divergence(hist, start, end)
		// np.argmin keeps the first of equal minima; a NaN would win, as in numpy.
		if best < 0 || kl < bestKL || (kl != kl && bestKL == bestKL) {
			best, bestKL = i-halfQ, kl
		}
	}
	start := zero - (best + halfQ)
	end := min(zero+best+halfQ+1, n)
	lo, hi = g.clampToSeen(g.edges[start], g.edges[end])
	return lo, hi, best, bestKL
}

// klWorkspace holds the buffers of one search, sized by the bin count.
type klWorkspace struct {
	qbins     int
	p, q      []int64
	quantized []int64
	ps, qs    []float32
	terms     []float32
}

func newKLWorkspace(bins, qbins int) *klWorkspace {
	return &klWorkspace{
		qbins:     qbins,
		p:         make([]int64, bins),
		q:         make([]int64, bins),
		quantized: make([]int64, qbins),
		ps:        make([]float32, bins),
		qs:        make([]float32, bins),
		terms:     make([]float32, bins),
	}
}

// divergence is the body of get_entropy_threshold's loop for the window [start, end).
func (w *klWorkspace) divergence(hist []int64, start, end int) float32 {
	sliced := hist[start:end]
	size := len(sliced)
	p := w.p[:size]
	copy(p, sliced)
	for _, c := range hist[:start] {
		p[0] += c
	}
	for _, c := range hist[end:] {
		p[size-1] += c
	}

	merged := size / w.qbins
	quantized := w.quantized
	for k := range quantized {
		quantized[k] = sumInt64(sliced[k*merged : (k+1)*merged])
	}
	quantized[w.qbins-1] += sumInt64(sliced[w.qbins*merged:])

	// q[group] = quantized / (non-empty bins of p in the group), stored in an int64
	// array, so truncated. Bins past qbins*merged stay 0, as in ORT.
	q := w.q[:size]
	clear(q)
	for k := range w.qbins {
		group := p[k*merged : (k+1)*merged]
		nonzero := 0
		for _, v := range group {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero != 0 {
			v := int64(float64(quantized[k]) / float64(nonzero))
			for j := k * merged; j < (k+1)*merged; j++ {
				q[j] = v
			}
		}
	}

	ps, qs := w.ps[:size], w.qs[:size]
	if !smoothDistribution(ps, p) || !smoothDistribution(qs, q) {
		return float32(math.Inf(1))
	}
	return scipyEntropyF32(ps, qs, w.terms[:size])
}

func sumInt64(a []int64) int64 {
	var s int64
	for _, v := range a {
		s += v
	}
	return s
}

// smoothDistribution is ORT's quant_utils.smooth_distribution with eps = 1e-4: zero
// bins get eps, the others give up eps*zeros/nonzeros each, in float32. It reports
// false (ORT returns None) when every bin is zero.
func smoothDistribution(dst []float32, p []int64) bool {
	zeros := 0
	for _, v := range p {
		if v == 0 {
			zeros++
		}
	}
	nonzeros := len(p) - zeros
	if nonzeros == 0 {
		return false
	}
	const eps = 0.0001
	eps1 := eps * float64(zeros) / float64(nonzeros)
	addZero := float32(eps)      // eps*is_zeros + (-eps1)*is_nonzeros at a zero bin
	addNonzero := float32(-eps1) // ... and at a non-zero bin
	for i, v := range p {
		if v == 0 {
			dst[i] = float32(0) + addZero
		} else {
			dst[i] = float32(v) + addNonzero
		}
	}
	return true
}

// scipyEntropyF32 is scipy.stats.entropy(p, q) on float32 arrays: both normalized by
// their float32 pairwise sums, rel_entr evaluated in float64 and rounded to float32,
// then summed pairwise in float32.
func scipyEntropyF32(p, q, terms []float32) float32 {
	sp := numpyPairwiseSumF32(p)
	sq := numpyPairwiseSumF32(q)
	for i := range p {
		pk := float64(p[i] / sp)
		qk := float64(q[i] / sq)
		terms[i] = float32(relEntr(pk, qk))
	}
	return numpyPairwiseSumF32(terms)
}

// relEntr is scipy.special.rel_entr: x*log(x/y) for x, y > 0, 0 for x = 0 <= y.
func relEntr(x, y float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsNaN(y):
		return math.NaN()
	case x > 0 && y > 0:
		return x * math.Log(x/y)
	case x == 0 && y >= 0:
		return 0
	}
	return math.Inf(1)
}
