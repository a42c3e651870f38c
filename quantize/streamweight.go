package quantize

import (
	"errors"
	"fmt"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// The streaming save of a selected weight. A weight with one scale (per tensor) takes two
// passes: its range, which gives the scale, then its chunks quantized, measured, binned
// into the report's histogram and written. Every other weight (per channel, per group,
// casts) takes one: each chunk is read, checked for NaN and ±Inf, ranged, quantized,
// measured and written while it is in cache. The histogram of such a weight cannot be
// binned in that pass (its bins need the whole weight's range), so the report gets it
// deferred (report.Deferred): counted from a second read of the source only when a JSON
// or HTML report asks for it (countValues). The printed report shows no histogram, so
// a recipe that only prints it reads every weight once.

// weightPlan is how a selected weight streams.
type weightPlan struct {
	rows      bool // chunks of whole rows (scales per row or group, int4 packing)
	perTensor bool // one scale from the whole weight's range: a first pass finds it
}

// planWeight says how a selected weight streams; ok is false when it cannot (channels
// along an axis other than the first need the whole weight).
func (s *streamer) planWeight(l layer.Layer) (weightPlan, bool) {
	ws := s.q.ws
	idx := newParamIndex(ws, l, numel(l.Shape))
	var p weightPlan
	switch {
	case ws.kind == kindCast:
	case idx.mode == 0:
		p.perTensor = true
		p.rows = ws.kind == kindInt && ws.scheme.QType.Bits == 4
	case idx.mode == 1 && (l.Axis != 0 || idx.inner*idx.channels != numel(l.Shape)):
		return p, false
	default:
		p.rows = true
	}
	return p, true
}

// weightAcc gathers a weight's parameters and statistics from its chunks.
type weightAcc struct {
	scales   []float32 // every block's scale (kindInt: p.Scale; kindFP8: scales)
	zeros    []int32   // kindInt: every block's zero point
	stats    statsPlan
	perChunk int // scales per chunk (rows × groups, or 1 per tensor)
	// los and his are every chunk's range when the weight is measured in one pass: the
	// range of its deferred histogram.
	los, his []float32
	// groups: each chunk chooses its groups' qparams, and gets its range from theirs
	// (GroupQParamsRangeTo), and the group kernel measures the codes as it quantizes them
	// (GroupStats); rowScales: each chunk chooses its fp8 rows' scales from the rows'
	// ranges, which give its range too (chooseRows); channels: quantizeInt chooses the
	// chunk's per-channel qparams and gets its range from the channels' (ranged).
	groups, rowScales, channels bool
	cols, groupSize             int          // per group: row length and group size
	dtype                       tensor.DType // the weight's
	write                       bool         // the chunks are written (false: a pass that only measures)
}

// weight streams a selected weight: for a per-tensor scale a first pass for its range,
// then its chunks quantized, measured and written; its parameter tensors last.
func (s *streamer) weight(info tensor.Info, l layer.Layer) error {
	plan, ok := s.planWeight(l)
	if !ok || s.q.hasCodes(info.Name) {
		return s.whole(info)
	}
	c, ok, err := s.open(info, plan.rows)
	if err != nil || !ok {
		if err == nil {
			err = s.whole(info)
		}
		return err
	}
	if plan.rows && c.rowElems*info.DType.Size() > streamRowLimit || c.chunks() == 0 {
		return s.whole(info) // rows too long to stream within the budget, or no values
	}
	full := &layerWork{ws: s.q.ws, layer: l, idx: newParamIndex(s.q.ws, l, c.n), finite: plan.perTensor}
	acc := s.newWeightAcc(c, full, plan)
	if plan.perTensor {
		if err := s.perTensorScale(c, full, acc); err != nil {
			return err
		}
	}
	if err := s.weightChunks(c, full, acc); err != nil {
		return err
	}
	return s.finishWeight(c, full, acc)
}

// newWeightAcc prepares the gathering of a weight's parameters and statistics.
func (s *streamer) newWeightAcc(c *source, full *layerWork, plan weightPlan) *weightAcc {
	q, l := s.q, full.layer
	acc := &weightAcc{write: true}
	if !plan.perTensor && q.ws.kind != kindCast {
		nparams := full.idx.count(c.n)
		acc.scales, acc.zeros = make([]float32, nparams), make([]int32, nparams)
		acc.perChunk = nparams / c.units * c.per
		// Without statistics the fused group kernel (QuantizeGroupsTo) does it all.
		acc.groups = s.measured != nil && q.ws.kind == kindInt && full.idx.mode == 2 && l.Axis == 0
		acc.rowScales = q.ws.kind == kindFP8 && full.idx.mode == 1 && full.idx.inner > 0
		acc.channels = s.measured != nil && q.ws.kind == kindInt && full.idx.mode == 1
		acc.cols, acc.groupSize, acc.dtype = full.idx.inner, full.idx.groupSize, l.DType
	}
	if s.measured != nil && !plan.perTensor {
		acc.los, acc.his = make([]float32, c.chunks()), make([]float32, c.chunks())
		acc.stats = full.planErrors(c.chunks())
	}
	return acc
}

// perTensorScale is a per-tensor weight's first pass: the whole weight's range gives the
// scale every chunk is quantized with, and the histogram's bins, so that the second pass
// bins the values as it measures them.
func (s *streamer) perTensorScale(c *source, full *layerWork, acc *weightAcc) error {
	q, l := s.q, full.layer
	lo, hi, err := s.rangeOf(c)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", c.info.Name, err)
	}
	switch q.ws.kind {
	case kindInt:
		if full.fixedP, err = perTensorQParams(q.ws, lo, hi, l.DType); err != nil {
			return fmt.Errorf("tensor %q: %w", c.info.Name, err)
		}
	case kindFP8:
		full.fixedFP8 = fp8Scale(max(-lo, hi), q.ws, scaleDType(l.DType))
	}
	if s.measured != nil {
		acc.stats = full.planStats(lo, hi, HistogramBins, c.chunks())
	}
	return nil
}

// weightChunks quantizes, measures and (acc.write) writes every chunk of a weight, on
// every core.
func (s *streamer) weightChunks(c *source, full *layerWork, acc *weightAcc) error {
	err := s.chunked(c, func(ws *workspace, i, worker int) (*writeJob, error) {
		return s.weightChunk(ws, c, full, acc, i, worker)
	})
	if err != nil {
		return s.firstError(c, err)
	}
	return nil
}

// firstError is the error a weight whose chunks failed with err reports: the whole-tensor
// save's. Chunks fail in index order (parallel.For returns the lowest failing one's error)
// and each checks its values before anything else, so a NaN or ±Inf error is the first of
// the weight. Another error (a scale that does not fit its type) may come from a chunk
// before the first NaN, which the whole-tensor save reports first: the rest of the weight
// is searched for one, a chunk at a time (only on this error path).
func (s *streamer) firstError(c *source, err error) error {
	var nf *quant.NonFiniteError
	if errors.As(err, &nf) || s.failed.Load() {
		return err
	}
	ws := <-s.pool
	defer func() { s.pool <- ws }()
	for i := range c.chunks() {
		t, rerr := c.read(ws, i)
		if rerr != nil {
			return err
		}
		x, rerr := ws.floats(t)
		if rerr != nil {
			return err
		}
		if _, _, nf := quant.MinMaxOf(x); nf != nil {
			a, _ := c.span(i)
			return fmt.Errorf("tensor %q: %w", c.info.Name, nonFiniteAt(nf, a))
		}
	}
	return err
}

// weightChunk quantizes and measures chunk i of a weight and returns its output (nil
// when !acc.write).
func (s *streamer) weightChunk(ws *workspace, c *source, full *layerWork, acc *weightAcc, i, worker int) (*writeJob, error) {
	q, l := s.q, full.layer
	rd := s.reader(ws, worker)
	t, err := c.read(rd, i)
	if err != nil {
		return nil, err
	}
	a, z := c.span(i)
	x, err := rd.floats(t)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, err)
	}
	castSums := acc.castSums(z-a, q.ws.kind == kindCast)
	castRanged := castSums != nil // castWeight finds the range as it casts (acc.los is set: castSums needs the statistics)
	finite, err := s.prepareChunk(acc, x, i, castRanged)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, nonFiniteAt(err, a))
	}
	sub := l
	sub.Shape = t.Shape
	gs := acc.groupStats(a, z, worker)
	lw, err := ws.quantizeChunk(q.ws, sub, x, full, i*acc.perChunk, acc.chosen(i, t.Shape[0]), gs, castSums, finite || full.finite, acc.channels || castRanged)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, nonFiniteAt(err, a))
	}
	if acc.channels || castRanged {
		acc.los[i], acc.his[i] = lw.lo, lw.hi
	}
	if acc.scales != nil {
		base := i * acc.perChunk
		switch q.ws.kind {
		case kindInt:
			copy(acc.scales[base:], lw.p.Scale)
			copy(acc.zeros[base:], lw.p.ZeroPoint)
		case kindFP8:
			copy(acc.scales[base:], lw.scales)
		}
	}
	if s.measured != nil {
		acc.stats.meter.SetPiece(i, acc.measureChunk(ws, lw, gs, z-a, worker))
	}
	if !acc.write {
		return nil, nil
	}
	out, err := s.chunkOutput(ws, lw, c, i)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, err)
	}
	return &out, nil
}

// measureChunk returns the error sums of a quantized chunk of n values (and counts them
// into the histogram when the plan bins): measured by the group kernel already (gs), or
// in blocks of chunkElems.
func (acc *weightAcc) measureChunk(ws *workspace, lw *layerWork, gs *quant.GroupStats, n, worker int) quant.ErrorSums {
	var sums quant.ErrorSums
	if gs != nil || lw.castSums != nil {
		pieces := lw.castSums
		if gs != nil {
			pieces = gs.Sums
		}
		for _, p := range pieces {
			sums.Merge(p)
		}
		return sums
	}
	if !acc.stats.fused {
		ws.scratch = grow(ws.scratch, chunkElems)
	}
	for b := 0; b < n; b += chunkElems {
		sums.Merge(lw.blockStats(acc.stats, b, min(b+chunkElems, n), acc.stats.counts(worker), ws.scratch))
	}
	return sums
}

// prepareChunk does what chunk i (values x) needs before it is quantized: its range for a
// weight measured in one pass, its fp8 rows' scales, its groups' qparams. finite reports
// that every value of x was checked (the quantize kernels then need not). castRanged: the
// cast finds x's range and checks it (castWeight), so this does nothing.
func (s *streamer) prepareChunk(acc *weightAcc, x []float32, i int, castRanged bool) (finite bool, err error) {
	var lo, hi float32
	switch {
	case acc.rowScales:
		lo, hi, err = s.chooseRows(acc, x, i)
	case acc.groups:
		lo, hi, err = s.chooseGroups(acc, x, i)
	case acc.channels, castRanged:
		return false, nil // quantizeInt or castWeight checks x and finds its range
	case acc.los != nil:
		lo, hi, err = quant.MinMaxOf(x)
	default:
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if acc.los != nil {
		acc.los[i], acc.his[i] = lo, hi
	}
	return true, nil
}

// quantizeChunk quantizes one chunk x of a weight (sub is the layer cut to the chunk's
// shape) with the whole weight's per-tensor scale when it has one.
func (w *workspace) quantizeChunk(ws weightScheme, sub layer.Layer, x []float32, full *layerWork, paramBase int, groupP *quant.QParams, gs *quant.GroupStats, castSums []quant.ErrorSums, finite, ranged bool) (*layerWork, error) {
	lw := &layerWork{ws: ws, layer: sub, x: x, idx: newParamIndex(ws, sub, len(x)),
		fixedP: full.fixedP, groupP: groupP, groupStats: gs, castSums: castSums, fixedFP8: full.fixedFP8, paramBase: paramBase, finite: finite, ranged: ranged}
	return lw, w.quantize(lw)
}

// finishWeight records a streamed weight's statistics and writes its parameter tensors.
func (s *streamer) finishWeight(c *source, full *layerWork, acc *weightAcc) error {
	q := s.q
	switch {
	case q.ws.kind == kindInt && full.fixedP != nil:
		full.p = full.fixedP
	case q.ws.kind == kindInt:
		full.p = &quant.QParams{Scheme: q.ws.scheme, Scale: acc.scales, ZeroPoint: acc.zeros}
	case q.ws.kind == kindFP8 && acc.scales != nil:
		full.scales = acc.scales
	case q.ws.kind == kindFP8:
		full.scales = []float32{full.fixedFP8}
	}
	if s.measured != nil {
		// Before the parameters are queued: a pass that measures again rewrites acc's
		// scales (with the same values).
		st, err := s.weightStats(c, full, acc)
		if err != nil {
			return err
		}
		s.measured[c.info.Name] = st
	}
	if s.layout == LayoutFake {
		return nil
	}
	params, err := q.paramOutputs(full)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", c.info.Name, err)
	}
	for _, o := range params {
		s.jobs <- writeJob{name: o.name, t: o.t}
	}
	return nil
}

// weightStats are a streamed weight's statistics. One measured in one pass gets its
// histogram deferred, over the range of its chunks. Its error sums were measured with the
// kernels planStats chooses for a range whose bins have the float32 form; for a range
// without it (a width under about 1e-37 or beyond float32's), planStats measures with
// other kernels, whose float64 sums come in another order, so such a weight is measured
// again (not written) with them, the histogram binned on the way: the figures are always
// those of the whole-tensor save.
func (s *streamer) weightStats(c *source, full *layerWork, acc *weightAcc) (*weightStats, error) {
	if acc.los == nil {
		return acc.stats.result(full), nil
	}
	lo, hi := combineRanges(acc.los, acc.his)
	final := full.planStats(lo, hi, HistogramBins, c.chunks())
	if !final.binning.F32 {
		acc.stats, acc.write = final, false
		if err := s.weightChunks(c, full, acc); err != nil {
			return nil, err
		}
		return acc.stats.result(full), nil
	}
	st := acc.stats.result(full)
	q, info := s.q, c.info
	st.histogram = report.Deferred(float64(lo), float64(hi), HistogramBins, func(h *report.Histogram) error {
		return q.countValues(info, h)
	})
	return st, nil
}

// rangeOf is the first pass over a per-tensor weight: its smallest and largest value, or
// the first NaN or ±Inf as a *quant.NonFiniteError with its index in the whole weight.
func (s *streamer) rangeOf(c *source) (lo, hi float32, err error) {
	los, his := make([]float32, c.chunks()), make([]float32, c.chunks())
	err = s.chunked(c, func(ws *workspace, i, worker int) (*writeJob, error) {
		rd := s.reader(ws, worker)
		t, err := c.read(rd, i)
		if err != nil {
			return nil, err
		}
		x, err := rd.floats(t)
		if err == nil {
			a, _ := c.span(i)
			los[i], his[i], err = quant.MinMaxOf(x)
			err = nonFiniteAt(err, a)
		}
		return nil, err
	})
	if err != nil {
		return 0, 0, err
	}
	lo, hi = combineRanges(los, his)
	return lo, hi, nil
}

// combineRanges is the range of a weight from its chunks' ranges (at least one).
func combineRanges(los, his []float32) (lo, hi float32) {
	lo, hi = los[0], his[0]
	for i := range los {
		lo, hi = min(lo, los[i]), max(hi, his[i])
	}
	return lo, hi
}

// chosen is the qparams prepareChunk chose for chunk i's rows (fp8: scales only), or nil.
func (acc *weightAcc) chosen(i, rows int) *quant.QParams {
	switch {
	case acc.rowScales:
		base := i * acc.perChunk
		return &quant.QParams{Scale: acc.scales[base : base+rows]}
	case !acc.groups:
		return nil
	}
	base, n := i*acc.perChunk, rows*((acc.cols+acc.groupSize-1)/acc.groupSize)
	return &quant.QParams{Scale: acc.scales[base : base+n], ZeroPoint: acc.zeros[base : base+n]}
}

// castSums are the sums, a block of chunkElems each, that castWeight measures of a chunk
// of n values of a cast weight as it casts them, when the plan measures dequantized
// blocks with AddFloats (the sums CastRangeTo gives) and bins nothing in this pass; else nil.
func (acc *weightAcc) castSums(n int, cast bool) []quant.ErrorSums {
	sp := acc.stats
	if !cast || sp.meter == nil || sp.fused || sp.h != nil || !sp.binning.F32 {
		return nil
	}
	return make([]quant.ErrorSums, (n+chunkElems-1)/chunkElems)
}

// groupStats is what the group kernel measures of elements [a, z) as it quantizes them,
// when prepareChunk chose the groups' qparams, or quantizeInt the channels' (each row a
// group), and the codes are measured in registers:
// blocks of chunkElems, as blockStats would measure them afterwards. Else nil.
func (acc *weightAcc) groupStats(a, z, worker int) *quant.GroupStats {
	sp := acc.stats
	if !(acc.groups || acc.channels && acc.cols > 0) || sp.meter == nil || !sp.fused {
		return nil
	}
	return &quant.GroupStats{Counts: sp.counts(worker), Lo: sp.binning.Lo, Inv: sp.binning.Inv,
		Block: chunkElems, Sums: make([]quant.ErrorSums, (z-a+chunkElems-1)/chunkElems)}
}

// chooseGroups chooses the qparams of chunk i's groups (x, whole rows) into acc and
// returns the chunk's range, from the groups' (no pass of its own over x).
func (s *streamer) chooseGroups(acc *weightAcc, x []float32, i int) (lo, hi float32, err error) {
	cols, size := acc.cols, acc.groupSize
	base := i * acc.perChunk
	n := len(x) / cols * ((cols + size - 1) / size)
	return quant.GroupQParamsRangeTo(acc.scales[base:base+n], acc.zeros[base:base+n], x, cols, size, s.q.ws.scheme, scaleFixer(acc.dtype, base))
}

// chooseRows sets the fp8 scale of chunk i's rows (x) into acc from each row's range, as
// fp8Scales would, and returns the chunk's range, MinMaxOf(x)'s, from the rows'
// (quant.RangeFold).
func (s *streamer) chooseRows(acc *weightAcc, x []float32, i int) (lo, hi float32, err error) {
	cols, base, sdt := acc.cols, i*acc.perChunk, scaleDType(acc.dtype)
	fold := quant.NewRangeFold()
	for r := range len(x) / cols {
		rlo, rhi, err := quant.MinMaxOf(x[r*cols : (r+1)*cols])
		if err != nil {
			return 0, 0, nonFiniteAt(err, r*cols)
		}
		acc.scales[base+r] = fp8Scale(max(-rlo, rhi, 0), s.q.ws, sdt)
		fold.Add(rlo, rhi)
	}
	lo, hi = fold.Range(x)
	return lo, hi, nil
}
