package quantize

import (
	"math"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
)

// weightStats are a quantized weight's figures in the report: the error of its
// dequantized values against the source, the range of its stored scales and the
// histogram of its source values. Report measures them in a pass of its own; Save
// measures them from the values and codes it already holds, so that a report asked for
// after a save reads nothing again. Both call stats, so both give the same figures.
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

// foldElems is how many products a float32 partial sum of the statistics kernels holds
// before it is added to the float64 sums: few enough that each partial sum, and so each
// total, is within 8·2⁻²⁴ ≈ 4.8e-7 of the float64 reference, relative to the sum of the
// magnitudes of its terms (all positive for Σx², Σy² and Σ(x-y)², nearly so for Σxy).
const foldElems = 8

// f32SumsMin and f32SumsMax bound the largest weight magnitude for which the statistics
// sums run in float32: below 2⁻³² squares of the values that matter would fall into
// float32's subnormals, above 2³² eight squares could overflow. Outside them (and for an
// all-zero weight) the float64 reference, quant.ErrorSums.Add, runs instead.
const (
	f32SumsMin = 0x1p-32
	f32SumsMax = 0x1p32
)

// stats measures a quantized weight in one parallel pass over disjoint chunks of
// chunkElems elements (after a range pass for the histogram): each chunk dequantizes its
// codes in registers (integer schemes with runs of one scale) or into a per-worker
// scratch block (fp8, casts, interleaved channels), accumulates the error sums in
// float32 blocks of foldElems added into float64 (see foldElems for the accuracy), and
// counts its source values into the worker's histogram with the float32 bin formula of
// report.Binning, so the counts are those of report.NewHistogram on the same values. The
// chunks' sums are merged in chunk order, so the result does not depend on scheduling.
func (lw *layerWork) stats(bins int) *weightStats {
	x := lw.x
	n := len(x)
	s := &weightStats{}
	s.scaleMin, s.scaleMax = lw.scaleRange()
	if n == 0 {
		s.errors = quant.ErrorSums{}.Errors()
		s.histogram = report.NewHistogram(nil, bins)
		return s
	}
	lo, hi, err := quant.MinMaxOf(x)
	if err != nil {
		// The weight was checked before quantizing; measure it the slow way anyway.
		lo, hi = minMax(x)
	}
	absMax := max(-float64(lo), float64(hi))
	f32Sums := absMax >= f32SumsMin && absMax <= f32SumsMax
	h := &report.Histogram{Min: float64(lo), Max: float64(hi), Counts: make([]int64, bins)}
	binning := h.Binning()
	fused := f32Sums && binning.F32 && lw.ws.kind == kindInt && (lw.idx.mode != 1 || lw.idx.inner >= foldElems)

	blocks := (n + chunkElems - 1) / chunkElems
	sums := make([]quant.ErrorSums, blocks)
	counts := make([][]int64, workers()) // each worker's own, summed at the end
	scratch := make([][]float32, workers())
	parallelFor(blocks, n, func(b, worker int) error {
		if counts[worker] == nil {
			// One count more than bins: the kernels put v == Max there when the float32
			// rounding gives int(f) == bins, and the merge moves it to the last bin.
			counts[worker] = make([]int64, bins+1)
		}
		counts := counts[worker]
		a, z := b*chunkElems, min((b+1)*chunkElems, n)
		if fused {
			var acc f32Sums64
			lw.forRuns(a, z-a, func(r0, r1, k int) {
				acc.addCodes(counts, x[r0:r1], lw.codes[r0:r1], lw.p.Scale[k], lw.p.ZeroPoint[k]-lw.ws.shift, binning)
			})
			sums[b] = acc.sums(z - a)
			return nil
		}
		if scratch[worker] == nil {
			scratch[worker] = make([]float32, chunkElems)
		}
		y := scratch[worker][:z-a]
		lw.dequantizeTo(y, a)
		switch {
		case f32Sums && binning.F32:
			var acc f32Sums64
			acc.addFloats(counts, x[a:z], y, binning)
			sums[b] = acc.sums(z - a)
		default:
			sums[b].Add(x[a:z], y)
			slow := &report.Histogram{Min: h.Min, Max: h.Max, Counts: counts[:bins]}
			slow.Add(x[a:z])
		}
		return nil
	})
	var total quant.ErrorSums
	for _, p := range sums { // chunk order: the result does not depend on scheduling
		total.Merge(p)
	}
	s.errors = total.Errors()
	for _, c := range counts {
		for i, k := range c {
			h.Counts[min(i, bins-1)] += k
		}
	}
	s.histogram = h
	return s
}

// f32Sums64 holds the float64 totals of the float32 partial sums.
type f32Sums64 struct {
	xx, yy, xy, noise float64
	maxAbs            float32
}

func (a *f32Sums64) sums(n int) quant.ErrorSums {
	return quant.ErrorSumsOf(n, a.xx, a.yy, a.xy, a.noise, float64(a.maxAbs))
}

// addCodes folds the pairs (x[i], y[i]), y[i] = float32(int32(codes[i])-zp)*scale, into
// the sums, in float32 partial sums of foldElems terms, and counts x[i] into counts with
// b's float32 form. b.F32 must hold and every x[i] lie in the histogram's range, so that
// int(f) is in [0, b.Last+1]: counts has b.Last+2 entries, the last one for the values
// the caller then adds to bin b.Last. Reference loop:
//
//	for i, v := range x {
//		y := float32(int32(codes[i])-zp) * scale
//		d := v - y
//		xx += v*v; yy += y*y; xy += v*y; noise += d*d; maxAbs = max(maxAbs, |d|)
//		counts[int((v-b.Lo)*b.Inv)]++
//	}
func (a *f32Sums64) addCodes(counts []int64, x []float32, codes []int8, scale float32, zp int32, b report.Binning) {
	codes = codes[:len(x)]
	lo, inv := b.Lo, b.Inv
	m := a.maxAbs
	for len(x) > 0 {
		k := min(len(x), foldElems)
		xs, cs := x[:k], codes[:k]
		var xx, yy, xy, nn float32
		for i, v := range xs {
			y := float32(int32(cs[i])-zp) * scale
			d := v - y
			xx += v * v
			yy += y * y
			xy += v * y
			nn += d * d
			if d > m || -d > m { // rarely true: no sign branch to mispredict
				m = max(d, -d)
			}
			counts[int((v-lo)*inv)]++
		}
		a.xx += float64(xx)
		a.yy += float64(yy)
		a.xy += float64(xy)
		a.noise += float64(nn)
		x, codes = x[k:], codes[k:]
	}
	a.maxAbs = m
}

// addFloats is addCodes for dequantized values y given in a slice.
func (a *f32Sums64) addFloats(counts []int64, x, y []float32, b report.Binning) {
	y = y[:len(x)]
	lo, inv := b.Lo, b.Inv
	m := a.maxAbs
	for len(x) > 0 {
		k := min(len(x), foldElems)
		xs, ys := x[:k], y[:k]
		var xx, yy, xy, nn float32
		for i, v := range xs {
			w := ys[i]
			d := v - w
			xx += v * v
			yy += w * w
			xy += v * w
			nn += d * d
			if d > m || -d > m { // rarely true: no sign branch to mispredict
				m = max(d, -d)
			}
			counts[int((v-lo)*inv)]++
		}
		a.xx += float64(xx)
		a.yy += float64(yy)
		a.xy += float64(xy)
		a.noise += float64(nn)
		x, y = x[k:], y[k:]
	}
	a.maxAbs = m
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
