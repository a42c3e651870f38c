package quant

import (
	"fmt"
	"math"
)

// ortGrid is the histogram ONNX Runtime's HistogramCollector builds with numpy, kept
// in constant memory: counts over bins whose float32 edges are numpy.linspace's, with
// elements placed exactly as numpy.histogram places them (left edge inclusive, the
// last bin also inclusive on the right, anything outside dropped).
//
// ORT stores a histogram whose bin count grows whenever a batch widens the range. We
// keep the bin count fixed and instead double the bin width, merging bins in pairs,
// until the range covers the new data. Counts move exactly, but the grid is coarser
// than ORT's would be, so results after a widening batch can differ from ORT's by
// about one of our bins. Batches that stay inside the range give ORT's histogram.
type ortGrid struct {
	counts []int64
	merged []int64   // scratch for doubleSigned
	edges  []float32 // len(counts)+1, numpy.linspace(first, last, bins+1) as float32
	// first and last are numpy's outer edges. widened marks an empty range that numpy
	// widened by ±0.5 in float64; otherwise they hold float32 values.
	first, last float64
	widened     bool

	// signed grids (ORT's collect_value) span ±threshold around 0; abs grids (ORT's
	// collect_absolute_value) span [min|x|, max|x|].
	signed    bool
	threshold float32

	min, max float32 // extremes of the raw data seen (nanmin/nanmax)
	seen     bool
}

func newORTGrid(bins int, signed bool) (*ortGrid, error) {
	if bins < 4 || bins > 1<<20 || bins%4 != 0 {
		return nil, fmt.Errorf("quant: histogram bins %d must be a multiple of 4 in 4..%d", bins, 1<<20)
	}
	return &ortGrid{
		counts: make([]int64, bins),
		merged: make([]int64, bins/2),
		edges:  make([]float32, bins+1),
		signed: signed,
		min:    float32(math.Inf(1)),
		max:    float32(math.Inf(-1)),
	}, nil
}

// observe adds one batch.
func (g *ortGrid) observe(x []float32) error {
	if len(x) == 0 {
		return nil
	}
	lo, hi, ok := finiteMinMax(x)
	if !ok {
		return findNonFinite(x, 0)
	}
	if g.signed {
		g.observeSigned(x, lo, hi)
	} else {
		g.observeAbs(x, max(-lo, hi))
	}
	g.min, g.max = min(g.min, lo), max(g.max, hi)
	g.seen = true
	return nil
}

// observeSigned is collect_value/merge_histogram: the range is ±max(|min|, |max|).
func (g *ortGrid) observeSigned(x []float32, lo, hi float32) {
	threshold := max(abs32(lo), abs32(hi))
	switch {
	case !g.seen:
		g.threshold = threshold
		g.setRange(-threshold, threshold)
	case threshold <= g.threshold:
		// np.histogram(range=(-old, old)) rebuilds the same edges.
	case g.threshold == 0:
		// ORT adds the old counts bin by bin to a histogram over the new range; the old
		// data were all zeros, which sit in the same middle bin of either grid.
		g.threshold = threshold
		g.setRange(-threshold, threshold)
	default:
		for g.threshold < threshold {
			g.doubleSigned()
		}
	}
	g.add(x, false)
}

// observeAbs is collect_absolute_value: a histogram of |x| starting at the first
// batch's min|x|. Later |x| below that edge are dropped, as numpy.histogram drops them
// from ORT's fixed edges.
func (g *ortGrid) observeAbs(x []float32, absMax float32) {
	if !g.seen {
		absMin := absMax
		for _, v := range x {
			if a := abs32(v); a < absMin {
				absMin = a
			}
		}
		g.setRange(absMin, absMax)
	} else {
		for absMax > g.edges[len(g.counts)] {
			g.doubleAbs()
		}
	}
	g.add(x, true)
}

// setRange lays out the edges numpy.histogram uses for range (first, last) given as
// float32 values, widening an empty range by ±0.5 as numpy's _get_outer_edges does.
func (g *ortGrid) setRange(first, last float32) {
	g.first, g.last, g.widened = float64(first), float64(last), false
	if first == last {
		g.first, g.last, g.widened = float64(first)-0.5, float64(last)+0.5, true
	}
	numpyLinspace(g.edges, g.first, g.last)
}

// numpyLinspace is numpy.linspace(first, last, len(dst), dtype=float32): computed in
// float64 as i*step + first, the last point set to last, then cast.
func numpyLinspace(dst []float32, first, last float64) {
	div := float64(len(dst) - 1)
	delta := last - first
	step := delta / div
	for i := range dst {
		var y float64
		if step == 0 {
			y = float64(float64(i)/div) * delta // numpy's path for denormal steps
		} else {
			y = float64(float64(i) * step)
		}
		dst[i] = float32(y + first)
	}
	dst[len(dst)-1] = float32(last)
}

// add counts x (or |x|) into the bins, with numpy.histogram's uniform-bin algorithm:
// an index from (x - first) * norm in float32, then one correction step against the
// edges so the result agrees with them.
func (g *ortGrid) add(x []float32, absolute bool) {
	n := len(g.counts)
	first32, last32 := float32(g.first), float32(g.last)
	var span float64
	if g.widened {
		span = g.last - g.first
	} else {
		span = float64(last32 - first32)
	}
	norm := float32(float64(n) / span)
	edges := g.edges[:n+1]
	counts := g.counts[:n]
	for _, v := range x {
		if absolute {
			v = abs32(v)
		}
		if !(v >= first32 && v <= last32) {
			continue
		}
		idx := int(float32(v-first32) * norm)
		idx = min(max(idx, 0), n-1)
		if v < edges[idx] && idx > 0 {
			idx--
		}
		if idx != n-1 && v >= edges[idx+1] {
			idx++
		}
		counts[idx]++
	}
}

// doubleSigned doubles the width of every bin of a ±threshold grid: old bins 2j and
// 2j+1 become new bin n/4+j, and the range becomes ±2*threshold.
func (g *ortGrid) doubleSigned() {
	n := len(g.counts)
	merged := g.merged[:n/2]
	for j := range merged {
		merged[j] = g.counts[2*j] + g.counts[2*j+1]
	}
	clear(g.counts)
	copy(g.counts[n/4:], merged)
	g.threshold *= 2
	g.setRange(-g.threshold, g.threshold)
}

// doubleAbs doubles the width of every bin of an |x| grid, keeping its first edge:
// old bins 2j and 2j+1 become new bin j.
func (g *ortGrid) doubleAbs() {
	n := len(g.counts)
	for j := range n / 2 {
		g.counts[j] = g.counts[2*j] + g.counts[2*j+1]
	}
	clear(g.counts[n/2:])
	g.last = g.first + 2*(g.last-g.first)
	g.widened = true // the edges are float64 values now, not float32 ones
	numpyLinspace(g.edges, g.first, g.last)
}

func (g *ortGrid) total() int64 {
	var t int64
	for _, c := range g.counts {
		t += c
	}
	return t
}

// clampToSeen is the last step of ORT's compute_percentile and get_entropy_threshold:
// thresholds outside the raw data's [min, max] are replaced by min or max.
func (g *ortGrid) clampToSeen(lo, hi float32) (float32, float32) {
	if lo < g.min {
		lo = g.min
	}
	if hi > g.max {
		hi = g.max
	}
	return lo, hi
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// numpyPairwiseSumF32 is numpy's float32 add.reduce of a contiguous array (pairwise_sum
// in loops_utils.h): blocks of at most 128 are summed with 8 interleaved accumulators,
// larger ranges split in two at a multiple of 8.
func numpyPairwiseSumF32(a []float32) float32 {
	n := len(a)
	switch {
	case n < 8:
		var res float32
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float32
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for k := range r {
				r[k] += a[i+k]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return numpyPairwiseSumF32(a[:n2]) + numpyPairwiseSumF32(a[n2:])
	}
}
