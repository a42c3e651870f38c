package quantize

import (
	"context"
	"errors"
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"io"
	"sync/atomic"

	"github.com/qscript-dev/qscript/formats"
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
	// readers are each worker's buffers for the source values of the chunk it is on
	// (the values are not needed once the chunk's outputs are made): reused by one core,
	// they stay in its cache, where pread's copy and the kernels find them, instead of
	// cycling through the pool's buffers.
	readers []*workspace
	jobs    chan writeJob
	failed  atomic.Bool
	werr    error // the writer's first error, read after it stopped
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
	s.readers = make([]*workspace, parallel.Workers())
	for i := range s.readers {
		s.readers[i] = newWorkspace(q.src)
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

// reader is the workspace worker reads a chunk's source values into when they are not
// part of its output: its own (ws when there is none).
func (s *streamer) reader(ws *workspace, worker int) *workspace {
	if worker < len(s.readers) {
		return s.readers[worker]
	}
	return ws
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
