package quant

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// MSE chooses the clipping range that minimizes the expected quantization error of the
// data seen, by a grid search over shrunken ranges, as llm-compressor's MSE observer
// (and torch's and Intel's "mse" range searches) do. It streams: the data are kept as a
// histogram (the same constant-memory ±max|x| grid Entropy uses), not as samples.
//
// The algorithm, exactly:
//
//  1. lo = min(data min, 0), hi = max(data max, 0), as float32.
//  2. For i = 0, 1, ..., int(MaxShrink*Grid)-1 the candidate range is
//     [p*lo, p*hi] with p = float32(1 - i/Grid) (float32 products).
//  3. Each candidate is turned into a scale and zero point by CalculateQParams with the
//     observer's Scheme; its error is Σ over histogram bins of
//     count * mean_k |x_k - dq(q(x_k))|^Norm, where x_k are the midpoints of 8 equal
//     slices of the bin (the bin's mass taken as uniform), q is the kernel's
//     clamp(round_half_even(x * (1/scale)) + zp) over the full code range of the
//     QType, and dq(c) = (c - zp) * scale.
//  4. The candidate with the smallest error wins; on a tie the earlier (wider) one.
//
// Defaults: Grid 100, MaxShrink 0.8, Norm 2 (squared error), the search of GPTQ's
// quantizer. llm-compressor's "mse" observer runs the same loop on raw samples with
// maxshrink 0.2, norm 2.4 and early stopping after 5 candidates without improvement;
// here every candidate is evaluated.
type MSE struct {
	scheme Scheme
	opts   MSEOptions
	grid   *ortGrid
}

// MSEOptions configures an MSE observer. Zero values take the defaults.
type MSEOptions struct {
	Bins      int     // histogram bins, default 2048, a multiple of 4
	Grid      int     // shrink steps per unit, default 100
	MaxShrink float64 // largest fraction the range may shrink by, default 0.8, in (0, 1]
	Norm      float64 // error exponent, default 2
}

// mseSlices is the number of points at which each histogram bin is evaluated.
const mseSlices = 8

// NewMSE returns the MSE observer with the default options.
func NewMSE(s Scheme) *MSE {
	m, err := NewMSEOptions(s, MSEOptions{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return m
}

// NewMSEOptions returns an MSE observer with explicit options.
func NewMSEOptions(s Scheme, o MSEOptions) (*MSE, error) {
	if o.Bins == 0 {
		o.Bins = DefaultHistogramBins
	}
	if o.Grid == 0 {
		o.Grid = 100
	}
	if o.MaxShrink == 0 {
		o.MaxShrink = 0.8
	}
	if o.Norm == 0 {
		o.Norm = 2
	}
	if o.Grid < 1 || o.Grid > 1<<16 {
		return nil, fmt.Errorf("quant: mse grid %d out of range 1..%d", o.Grid, 1<<16)
	}
	if !(o.MaxShrink > 0 && o.MaxShrink <= 1) {
		return nil, fmt.Errorf("quant: mse max shrink %v must be in (0, 1]", o.MaxShrink)
	}
	if !(o.Norm > 0 && o.Norm <= 16) {
		return nil, fmt.Errorf("quant: mse norm %v must be in (0, 16]", o.Norm)
	}
	g, err := newORTGrid(o.Bins, true)
	if err != nil {
		return nil, err
	}
	return &MSE{scheme: s, opts: o, grid: g}, nil
}

// Observe adds one batch to the histogram.
func (m *MSE) Observe(t *tensor.Tensor) error {
	x, err := observedFloats(t)
	if err != nil {
		return err
	}
	return m.grid.observe(x)
}

// Range returns the extremes of the data seen, [+Inf, -Inf] before any.
func (m *MSE) Range() (lo, hi []float32) {
	return []float32{m.grid.min}, []float32{m.grid.max}
}

// QParams computes qparams for the best clipping range.
func (m *MSE) QParams() (*QParams, error) {
	lo, hi, err := m.ClippedRange()
	if err != nil {
		return nil, err
	}
	return qparamsPerTensor(lo, hi, m.scheme)
}

// ClippedRange returns the range of least expected error, [+Inf, -Inf] before any data.
func (m *MSE) ClippedRange() (lo, hi float32, err error) {
	g := m.grid
	if !g.seen {
		return float32(math.Inf(1)), float32(math.Inf(-1)), nil
	}
	lo, hi = min(g.min, 0), max(g.max, 0)
	steps := max(1, int(m.opts.MaxShrink*float64(m.opts.Grid)))
	bestLo, bestHi := lo, hi
	bestErr := math.Inf(1)
	for i := range steps {
		p := float32(1 - float64(i)/float64(m.opts.Grid))
		cLo, cHi := float32(p*lo), float32(p*hi)
		e, err := m.expectedError(cLo, cHi)
		if err != nil {
			return 0, 0, err
		}
		if e < bestErr {
			bestErr, bestLo, bestHi = e, cLo, cHi
		}
	}
	return bestLo, bestHi, nil
}

// expectedError is step 3 of the algorithm for one candidate range.
func (m *MSE) expectedError(lo, hi float32) (float64, error) {
	scale, zp, err := CalculateQParams([]float32{lo}, []float32{hi}, m.scheme)
	if err != nil {
		return 0, err
	}
	s, z := scale[0], float32(zp[0])
	inv := 1 / s
	qmin, qmax := float32(m.scheme.QType.Min), float32(m.scheme.QType.Max)
	norm := m.opts.Norm
	g := m.grid
	var total float64
	for b, c := range g.counts {
		if c == 0 {
			continue
		}
		left := float64(g.edges[b])
		width := (float64(g.edges[b+1]) - left) / mseSlices
		var sum float64
		for k := range mseSlices {
			x := float32(left + (float64(k)+0.5)*width)
			q := clampF32(float32(math.RoundToEven(float64(x*inv)))+z, qmin, qmax)
			d := math.Abs(float64(x) - float64((q-z)*s))
			if norm == 2 {
				sum += d * d
			} else {
				sum += math.Pow(d, norm)
			}
		}
		total += float64(c) * sum / mseSlices
	}
	return total, nil
}
