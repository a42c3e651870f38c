package quantize

import (
	"context"
	"errors"
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"io"
	"math"
	"sync/atomic"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// The streaming save cuts every tensor into chunks of whole rows (or of elements, where
// each element is on its own: copies, casts, per-tensor scales) of about streamChunkElems
// elements. Every core reads, quantizes and measures chunks while one goroutine writes
// finished ones, so reading, quantizing and writing overlap. A chunk is small enough that
// its rows stay in cache from quantizing to measuring, and that quant's kernels run it on
// the calling goroutine; at most streamBudget bytes of chunk buffers are in flight, so the
// save's memory does not depend on the largest tensor (a row longer than a chunk is one
// chunk).
const streamBudget = 64 << 20

// streamChunkElems is a chunk's size in elements (a variable so that tests cut small
// tensors into many chunks). streamSaves turns the streaming save off (tests compare it
// with the whole-tensor one).
var (
	streamChunkElems = 1 << 17
	streamSaves      = true
)

// streamRowLimit is the longest row, in bytes, that a row-wise weight streams with; a
// weight with longer rows is quantized whole (a variable for tests).
var streamRowLimit = streamBudget / 4

// directWrites makes the streaming save write with O_DIRECT (safetensors.Writer.Direct):
// the file goes from the chunk buffers to the disk without the page cache's copy and
// writeback, CPU time that the quantizing workers then have.
var directWrites = true

// rangeWriter is implemented by writers that take a tensor's data in pieces
// (safetensors' *Writer).
type rangeWriter interface {
	Write(name string, t *tensor.Tensor) error
	WriteRange(name string, off int64, data []byte) error
}

// streamer is one streaming save.
type streamer struct {
	q        *WeightPlan
	layout   string
	measured map[string]*weightStats
	sections sectionReader // positioned reads
	pool     chan *workspace
	jobs     chan writeJob
	failed   atomic.Bool
	werr     error // the writer's first error, read after it stopped
}

// writeJob is a piece of output for the writer goroutine: a whole tensor (t) or bytes at
// an offset of one (data). done, when set, runs once it is written (or dropped).
type writeJob struct {
	name string
	t    *tensor.Tensor
	off  int64
	data []byte
	done func()
}

// streamable reports whether the save can stream from src: its reader reads at positions.
// (Reading a safetensors file through its memory map instead, dropping each chunk's pages
// after use, measured slower here: paired whole-process runs on the 2.14 GB checkpoint
// took 1.10x the CPU time for int4 and 1.14x for int8, the page faults' mapping and
// unmapping costing more than the copy of a chunk into a cached buffer.)
func streamable(src formats.Model) bool {
	return streamSaves && sectionsOf(src) != nil
}

// streamTo writes every output tensor to w chunk by chunk (see Save). With measured not
// nil, it also records the statistics of every quantized weight there.
func (q *WeightPlan) streamTo(ctx context.Context, w rangeWriter, layout string, measured map[string]*weightStats) error {
	s := &streamer{q: q, layout: layout, measured: measured, jobs: make(chan writeJob, 64)}
	s.sections = sectionsOf(q.src)
	// Chunk buffers: one per worker being filled and as many more waiting to be written,
	// within the budget (a workspace holds at most a chunk's codes or cast values and, for
	// sources that are not F32, its values).
	depth := max(2*parallel.Workers(), min(streamBudget/(16*streamChunkElems), 4*parallel.Workers()))
	s.pool = make(chan *workspace, depth)
	for range depth {
		s.pool <- newWorkspace(q.src)
	}
	finished := make(chan struct{})
	go s.write(w, finished)
	var err error
	for _, info := range q.infos {
		if err = ctx.Err(); err != nil || s.failed.Load() {
			break
		}
		if err = s.tensor(info); err != nil {
			break
		}
		q.progress.tick(info)
	}
	close(s.jobs)
	<-finished
	if err == nil {
		err = s.werr
	}
	return err
}

// write is the writer goroutine: it writes jobs in the order they come until jobs is
// closed, and after a failure only runs their done.
func (s *streamer) write(w rangeWriter, finished chan<- struct{}) {
	defer close(finished)
	for j := range s.jobs {
		if s.werr == nil {
			if j.t != nil {
				s.werr = w.Write(j.name, j.t)
			} else {
				s.werr = w.WriteRange(j.name, j.off, j.data)
			}
			if s.werr != nil {
				s.failed.Store(true)
			}
		}
		if j.done != nil {
			j.done()
		}
	}
}

// source is one tensor being read chunk by chunk.
type source struct {
	info     tensor.Info
	n        int // elements
	rowElems int // elements per chunk unit (a row, or 1)
	units    int // rows, or elements
	per      int // units per chunk
	sec      *io.SectionReader
}

func (c *source) chunks() int { return (c.units + c.per - 1) / c.per }

// span is chunk i's elements [a, z).
func (c *source) span(i int) (a, z int) {
	return i * c.per * c.rowElems, min((i+1)*c.per, c.units) * c.rowElems
}

// open prepares info for reading in chunks of whole rows (rows) or of elements. ok is
// false when the reader can only load it whole.
func (s *streamer) open(info tensor.Info, rows bool) (*source, bool, error) {
	n, err := tensor.Numel(info.Shape)
	if err != nil {
		return nil, false, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	c := &source{info: info, n: n, rowElems: 1, units: n}
	if rows && len(info.Shape) > 1 && info.Shape[0] > 0 {
		c.rowElems, c.units = n/info.Shape[0], info.Shape[0]
	}
	c.per = max(1, streamChunkElems/max(c.rowElems, 1))
	size := int64(n) * int64(info.DType.Size())
	if s.sections == nil {
		return nil, false, nil
	}
	sec, err := s.sections.Section(info.Name)
	if err != nil {
		return nil, false, err
	}
	if sec.Size() != size {
		return nil, false, fmt.Errorf("tensor %q: %d bytes stored, %d expected", info.Name, sec.Size(), size)
	}
	c.sec = sec
	return c, true, nil
}

// read returns chunk i as a tensor (rows of the source's shape, or a flat run of
// elements), read into ws.raw.
func (c *source) read(ws *workspace, i int) (*tensor.Tensor, error) {
	a, z := c.span(i)
	es := int64(c.info.DType.Size())
	shape := []int{z - a}
	if c.rowElems > 1 {
		shape = append([]int{(z - a) / c.rowElems}, c.info.Shape[1:]...)
	}
	ws.raw = grow(ws.raw, int(int64(z-a)*es))
	if _, err := c.sec.ReadAt(ws.raw, int64(a)*es); err != nil && !(err == io.EOF && len(ws.raw) == 0) {
		return nil, fmt.Errorf("tensor %q: %w", c.info.Name, err)
	}
	return tensor.FromBytes(c.info.DType, shape, ws.raw)
}

// tensor streams one source tensor's outputs.
func (s *streamer) tensor(info tensor.Info) error {
	q := s.q
	r, d := q.roleOf(info)
	switch {
	case r == rolePass:
		return s.pass(info)
	case r == roleCast && (d == nil || d.Layer.Weight != info.Name):
		return s.castOther(info)
	}
	return s.weight(info, d.Layer)
}

// whole produces a tensor's outputs from the whole tensor, as the non-streaming save does,
// and waits until they are written (the workspace is reused next).
func (s *streamer) whole(info tensor.Info) error {
	ws := <-s.pool
	out, lw, err := s.q.produce(ws, info, s.layout)
	if err != nil {
		s.pool <- ws
		return err
	}
	if lw != nil && s.measured != nil {
		s.measured[info.Name] = lw.stats(HistogramBins)
	}
	written := make(chan struct{})
	for i, o := range out {
		j := writeJob{name: o.name, t: o.t}
		if i == len(out)-1 {
			j.done = func() { close(written) }
		}
		s.jobs <- j
	}
	<-written
	ws.release()
	s.pool <- ws
	return nil
}

// pass copies a tensor unchanged, through chunk buffers.
func (s *streamer) pass(info tensor.Info) error {
	c, ok, err := s.open(info, false)
	if err != nil || !ok {
		if err == nil {
			err = s.whole(info)
		}
		return err
	}
	c.per = max(c.per, (1<<20)/max(info.DType.Size(), 1)) // bigger pieces: nothing to compute
	es := int64(info.DType.Size())
	for i := range c.chunks() {
		a, _ := c.span(i)
		ws := <-s.pool
		t, err := c.read(ws, i)
		if err != nil {
			s.pool <- ws
			return err
		}
		s.jobs <- writeJob{name: info.Name, off: int64(a) * es, data: t.Data, done: func() { s.pool <- ws }}
	}
	return nil
}

// castOther casts a floating tensor that is not a selected weight (fp16/bf16 schemes),
// element by element.
func (s *streamer) castOther(info tensor.Info) error {
	c, ok, err := s.open(info, false)
	if err != nil || !ok {
		if err == nil {
			err = s.whole(info)
		}
		return err
	}
	target, fake := s.q.ws.target, s.layout == LayoutFake
	outSize := int64(target.Size())
	if fake {
		outSize = int64(info.DType.Size())
	}
	return s.chunked(c, func(ws *workspace, i int, _ int) (*writeJob, error) {
		t, err := c.read(ws, i)
		if err != nil {
			return nil, err
		}
		out, err := ws.castTensor(t, target, fake)
		a, _ := c.span(i)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", info.Name, nonFiniteAt(err, a))
		}
		return &writeJob{name: info.Name, off: int64(a) * outSize, data: out.Data}, nil
	})
}

// chunked runs fn on every chunk of c, on every core, each with a workspace from the
// pool. The job fn returns (its data in the workspace's buffers) is queued, and the
// workspace goes back to the pool once it is written; without a job, at once.
func (s *streamer) chunked(c *source, fn func(ws *workspace, i, worker int) (*writeJob, error)) error {
	return parallel.For(c.chunks(), 4*c.n, func(i, worker int) error {
		if s.failed.Load() {
			return errWriteFailed
		}
		ws := <-s.pool
		j, err := fn(ws, i, worker)
		if err != nil || j == nil {
			s.pool <- ws
			return err
		}
		j.done = func() { s.pool <- ws }
		s.jobs <- *j
		return nil
	})
}

// errWriteFailed stops the workers after the writer failed; the writer's error is the
// one returned.
var errWriteFailed = errors.New("write failed")

// nonFiniteAt moves the index of a *quant.NonFiniteError found in a chunk to the whole
// tensor's.
func nonFiniteAt(err error, offset int) error {
	var nf *quant.NonFiniteError
	if errors.As(err, &nf) {
		nf.Index += offset
	}
	return err
}

// weightPlan is how a selected weight streams.
type weightPlan struct {
	rows      bool // chunks of whole rows (scales per row or group, int4 packing)
	perTensor bool // one scale from the whole weight's range
	ranged    bool // a first pass finds the whole weight's range
}

// planWeight says how a selected weight streams; ok is false when it cannot (channels
// along an axis other than the first need the whole weight).
func (s *streamer) planWeight(l layer.Layer) (weightPlan, bool) {
	ws := s.q.ws
	idx := newParamIndex(ws, l, numel(l.Shape))
	p := weightPlan{ranged: s.measured != nil}
	switch {
	case ws.kind == kindCast:
	case idx.mode == 0:
		p.perTensor, p.ranged = true, true
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
	// groupsChosen: the first pass chose every group's scale and zero point (scales, zeros);
	// rowsChosen: every fp8 channel's (row's) scale.
	groupsChosen, rowsChosen bool
	cols, groupSize          int          // per group: row length and group size
	dtype                    tensor.DType // the weight's
}

// weight streams a selected weight: an optional first pass for its range, then chunks
// quantized, measured and written; its parameter tensors last.
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
	if plan.rows && c.rowElems*info.DType.Size() > streamRowLimit {
		return s.whole(info) // rows too long to stream within the budget
	}
	q := s.q
	acc := &weightAcc{}
	full := &layerWork{ws: q.ws, layer: l, idx: newParamIndex(q.ws, l, c.n), finite: plan.ranged}
	if !plan.perTensor && q.ws.kind != kindCast {
		nparams := full.idx.count(c.n)
		acc.scales, acc.zeros = make([]float32, nparams), make([]int32, nparams)
		acc.perChunk = nparams / c.units * c.per
		// The first pass reads every group anyway: it chooses their qparams too.
		acc.groupsChosen = plan.ranged && q.ws.kind == kindInt && full.idx.mode == 2 && l.Axis == 0
		acc.rowsChosen = plan.ranged && q.ws.kind == kindFP8 && full.idx.mode == 1 && full.idx.inner > 0
		acc.cols, acc.groupSize, acc.dtype = full.idx.inner, full.idx.groupSize, l.DType
	}
	var lo, hi float32
	if plan.ranged {
		if lo, hi, err = s.rangeOf(c, acc); err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
	}
	switch {
	case q.ws.kind == kindInt && plan.perTensor:
		if full.fixedP, err = perTensorQParams(q.ws, lo, hi, l.DType); err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
	case q.ws.kind == kindFP8 && plan.perTensor:
		full.fixedFP8 = fp8Scale(max(-lo, hi), q.ws, scaleDType(l.DType))
	}
	if s.measured != nil {
		acc.stats = full.planStats(lo, hi, HistogramBins, c.chunks())
	}
	err = s.chunked(c, func(ws *workspace, i, worker int) (*writeJob, error) {
		return s.weightChunk(ws, c, full, acc, i, worker)
	})
	if err != nil {
		return err
	}
	return s.finishWeight(info, full, acc)
}

// weightChunk quantizes and measures chunk i of a weight and returns its output.
func (s *streamer) weightChunk(ws *workspace, c *source, full *layerWork, acc *weightAcc, i, worker int) (*writeJob, error) {
	q, l := s.q, full.layer
	t, err := c.read(ws, i)
	if err != nil {
		return nil, err
	}
	a, z := c.span(i)
	sub := l
	sub.Shape = t.Shape
	gs := acc.groupStats(a, z, worker)
	lw, err := ws.quantizeChunk(q.ws, sub, t, full, i*acc.perChunk, acc.chosen(i, t.Shape[0]), gs)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, nonFiniteAt(err, a))
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
		var sums quant.ErrorSums
		switch {
		case gs != nil: // measured by the group kernel
			for _, p := range gs.Sums {
				sums.Merge(p)
			}
		default:
			if !acc.stats.fused {
				ws.scratch = grow(ws.scratch, chunkElems)
			}
			for b := 0; b < z-a; b += chunkElems {
				sums.Merge(lw.blockStats(acc.stats, b, min(b+chunkElems, z-a), acc.stats.meter.Counts(worker), ws.scratch))
			}
		}
		acc.stats.meter.SetPiece(i, sums)
	}
	out, err := s.chunkOutput(ws, lw, c, i)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", l.Weight, err)
	}
	return &out, nil
}

// quantizeChunk quantizes one chunk of a weight (sub is the layer cut to the chunk's
// shape) with the whole weight's per-tensor scale when it has one.
func (w *workspace) quantizeChunk(ws weightScheme, sub layer.Layer, t *tensor.Tensor, full *layerWork, paramBase int, groupP *quant.QParams, gs *quant.GroupStats) (*layerWork, error) {
	x, err := w.floats(t)
	if err != nil {
		return nil, err
	}
	lw := &layerWork{ws: ws, layer: sub, x: x, idx: newParamIndex(ws, sub, len(x)),
		fixedP: full.fixedP, groupP: groupP, groupStats: gs, fixedFP8: full.fixedFP8, paramBase: paramBase, finite: full.finite}
	switch ws.kind {
	case kindInt:
		err = w.quantizeInt(lw)
	case kindFP8:
		err = w.quantizeFP8(lw)
	case kindCast:
		err = w.castWeight(lw)
	}
	return lw, err
}

// chunkOutput is a quantized chunk's piece of the codes tensor (compressed layout) or of
// the dequantized weight (fake layout), in ws's buffers.
func (s *streamer) chunkOutput(ws *workspace, lw *layerWork, c *source, i int) (writeJob, error) {
	q := s.q
	a, _ := c.span(i)
	if s.layout == LayoutFake {
		ws.fake = grow(ws.fake, len(lw.x))
		lw.dequantizeTo(ws.fake, 0)
		t, err := tensor.FromF32(lw.layer.Shape, ws.fake).To(lw.layer.DType)
		if err != nil {
			return writeJob{}, err
		}
		return writeJob{name: c.info.Name, off: int64(a) * int64(lw.layer.DType.Size()), data: t.Data}, nil
	}
	if q.ws.kind == kindInt && q.ws.scheme.QType.Bits == 4 {
		rows := lw.layer.Shape[0]
		cols := len(lw.codes) / rows
		words := (cols + 7) / 8
		ws.packed = grow(ws.packed, rows*words)
		if err := quant.PackInt4WordsTo(ws.packed, lw.codes, cols); err != nil {
			return writeJob{}, err
		}
		return writeJob{name: lw.layer.Weight + "_packed", off: int64(a/cols) * int64(words) * 4, data: tensor.Bytes(ws.packed)}, nil
	}
	o, err := q.codesOutput(lw)
	if err != nil {
		return writeJob{}, err
	}
	return writeJob{name: o.name, off: int64(a) * int64(o.t.DType.Size()), data: o.t.Data}, nil
}

// finishWeight writes a streamed weight's parameter tensors and records its statistics.
func (s *streamer) finishWeight(info tensor.Info, full *layerWork, acc *weightAcc) error {
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
	if s.layout != LayoutFake {
		params, err := q.paramOutputs(full)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		for _, o := range params {
			s.jobs <- writeJob{name: o.name, t: o.t}
		}
	}
	if s.measured == nil {
		return nil
	}
	s.measured[info.Name] = acc.stats.result(full)
	return nil
}

// rangeOf is the first pass over a weight: its smallest and largest value, or the first
// NaN or ±Inf as a *quant.NonFiniteError with its index in the whole weight. With
// acc.groupsChosen it also chooses every group's qparams into acc (a scale that does not
// fit is reported after the whole weight was checked for NaN, as the fused kernel does).
func (s *streamer) rangeOf(c *source, acc *weightAcc) (lo, hi float32, err error) {
	los, his := make([]float32, c.chunks()), make([]float32, c.chunks())
	scaleErrs := make([]error, c.chunks())
	err = s.chunked(c, func(ws *workspace, i, _ int) (*writeJob, error) {
		t, err := c.read(ws, i)
		if err != nil {
			return nil, err
		}
		x, err := ws.floats(t)
		if err == nil {
			a, _ := c.span(i)
			if acc.rowsChosen {
				los[i], his[i], err = s.chooseRows(acc, x, i)
			} else {
				los[i], his[i], err = quant.MinMaxOf(x)
			}
			err = nonFiniteAt(err, a)
		}
		if err == nil && acc.groupsChosen {
			scaleErrs[i] = s.chooseGroups(acc, x, i)
		}
		return nil, err
	})
	for _, e := range scaleErrs {
		if err == nil {
			err = e
		}
	}
	if err != nil {
		return 0, 0, err
	}
	lo, hi = los[0], his[0]
	for i := range los {
		lo, hi = min(lo, los[i]), max(hi, his[i])
	}
	return lo, hi, nil
}

// chosen is the qparams the first pass chose for chunk i's rows (fp8: scales only), or
// nil.
func (acc *weightAcc) chosen(i, rows int) *quant.QParams {
	switch {
	case acc.rowsChosen:
		base := i * acc.perChunk
		return &quant.QParams{Scale: acc.scales[base : base+rows]}
	case !acc.groupsChosen:
		return nil
	}
	base, n := i*acc.perChunk, rows*((acc.cols+acc.groupSize-1)/acc.groupSize)
	return &quant.QParams{Scale: acc.scales[base : base+n], ZeroPoint: acc.zeros[base : base+n]}
}

// groupStats is what the group kernel measures of elements [a, z) as it quantizes them,
// when the first pass chose the groups' qparams and the codes are measured in registers:
// blocks of chunkElems, as blockStats would measure them afterwards. Else nil.
func (acc *weightAcc) groupStats(a, z, worker int) *quant.GroupStats {
	sp := acc.stats
	if !acc.groupsChosen || sp.meter == nil || !sp.fused {
		return nil
	}
	return &quant.GroupStats{Counts: sp.meter.Counts(worker), Lo: sp.binning.Lo, Inv: sp.binning.Inv,
		Block: chunkElems, Sums: make([]quant.ErrorSums, (z-a+chunkElems-1)/chunkElems)}
}

// chooseGroups chooses the qparams of chunk i's groups (x, whole rows) into acc.
func (s *streamer) chooseGroups(acc *weightAcc, x []float32, i int) error {
	cols, size := acc.cols, acc.groupSize
	base := i * acc.perChunk
	n := len(x) / cols * ((cols + size - 1) / size)
	return quant.GroupQParamsTo(acc.scales[base:base+n], acc.zeros[base:base+n], x, cols, size, s.q.ws.scheme, scaleFixer(acc.dtype, base))
}

// chooseRows sets the fp8 scale of chunk i's rows (x) into acc from each row's range, as
// fp8Scales would in the second pass, and returns the chunk's range: the rows' ranges
// combined, or MinMaxOf(x)'s when one of them ends at zero (the sign of a zero at an end
// of the combined range could depend on the order in which ranges combine).
func (s *streamer) chooseRows(acc *weightAcc, x []float32, i int) (lo, hi float32, err error) {
	cols, base, sdt := acc.cols, i*acc.perChunk, scaleDType(acc.dtype)
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	zero := false
	for r := range len(x) / cols {
		rlo, rhi, err := quant.MinMaxOf(x[r*cols : (r+1)*cols])
		if err != nil {
			return 0, 0, nonFiniteAt(err, r*cols)
		}
		acc.scales[base+r] = fp8Scale(max(-rlo, rhi, 0), s.q.ws, sdt)
		zero = zero || rlo == 0 || rhi == 0
		lo, hi = min(lo, rlo), max(hi, rhi)
	}
	if zero {
		return quant.MinMaxOf(x)
	}
	return lo, hi, nil
}
