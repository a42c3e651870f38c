package graph

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/qscript-dev/qscript/tensor"
)

// arena recycles the buffers of intermediate values within a Run and across the Runs of one
// Runner, and the scratch space kernels need. Kernels allocate their outputs from it; Run
// counts, per buffer, the live values that reference it (views such as Reshape share their
// input's buffer) and hands a buffer back once none does. Buffers are carved out of chunks
// (chunk.go), so memory one value leaves serves values of any size after it. Values that
// Graph.Run returns (outputs, Keep) leave the arena with their chunks; a Runner's stay until
// its next Run.
//
// Output buffers are used only from the goroutine that calls Run; scratch buffers
// (getScratch) may be taken and returned by a kernel's worker goroutines too. A nil *arena
// allocates from the heap (Load's constant evaluation).
type arena struct {
	owned  []ownedBuf // buffers handed out during this Run and still referenced or recyclable
	chunks []*chunk   // the memory buffers are carved from (chunk.go)

	// chunkMu guards chunks and scratch: kernels' worker goroutines take scratch too.
	chunkMu sync.Mutex
	scratch []ownedBuf // scratch buffers handed out and not given back

	// Tensor headers (struct and shape) newTensorIn handed out: in this Run, in the Run
	// before (whose returned values a Runner holds until the end of this one), and free.
	headers, lastHeaders, spareHeaders []*tensor.Tensor
	// out1 backs the one-output slice of result.
	out1 [1]*tensor.Tensor
	// temp is the node's temporary ints (ints): emptied after every node.
	temp []int
	// temp64 is the node's temporary int64s (int64s): emptied after every node.
	temp64 []int64
	// workers is the number of goroutines one kernel may use (nil or 0: GOMAXPROCS); see
	// maxWorkers. It is the Runner's, which may change it during a Run (Runner.SetWorkers).
	workers *atomic.Int32
	// donor is the input the node being run may write its output over (Runner.donor), and
	// donated records that it did (elementwiseOut).
	donor   *tensor.Tensor
	donated bool
	// ctx and hooks are those of the Run in progress, for the subgraphs of If and Loop.
	ctx   context.Context
	hooks *Hooks
}

// ownedBuf is a buffer the arena handed out, where it lies in its chunk, and the number of
// live values that use it.
type ownedBuf struct {
	buf  []byte
	c    *chunk
	off  int
	refs int
}

// arenaMaxChunks and arenaMaxHeaders bound what an arena keeps between Runs,
// so that a run of unusual sizes or a huge graph cannot make it hoard. Every value counts,
// down to the few bytes of a shape tensor: whatever a Run allocates afresh is garbage once
// it ends, and a long loop of Runs would let it pile up to the collector's goal.
const (
	arenaMaxChunks  = 256
	arenaMaxHeaders = 4096
)

// tensor returns a tensor header to fill in: a recycled one, or a new one.
func (a *arena) tensor() *tensor.Tensor {
	var t *tensor.Tensor
	if n := len(a.spareHeaders); n > 0 {
		t = a.spareHeaders[n-1]
		a.spareHeaders[n-1] = nil
		a.spareHeaders = a.spareHeaders[:n-1]
	} else {
		t = &tensor.Tensor{}
	}
	a.headers = append(a.headers, t)
	return t
}

// ints returns n zeroed ints of temporary space (shapes, strides, indices) for the node
// being run: Run reclaims them once the node is done, so they must not end up in an output
// (newTensorIn and view copy the shapes they are given). Only the Run goroutine may call it.
func (a *arena) ints(n int) []int {
	if a == nil {
		return make([]int, n)
	}
	return takeTemp(&a.temp, n, 256)
}

// int64s is ints for int64s (the values of shape tensors).
func (a *arena) int64s(n int) []int64 {
	if a == nil {
		return make([]int64, n)
	}
	return takeTemp(&a.temp64, n, 64)
}

// takeTemp returns the next n zeroed elements of the block *temp, starting a new block of
// at least minCap when it is full. The slices handed out earlier keep the old block.
func takeTemp[T int | int64](temp *[]T, n, minCap int) []T {
	used := len(*temp)
	if used+n > cap(*temp) {
		*temp = make([]T, 0, max(2*cap(*temp), n, minCap))
		used = 0
	}
	*temp = (*temp)[:used+n]
	s := (*temp)[used : used+n : used+n]
	clear(s)
	return s
}

// endNode reclaims the node's temporary ints.
func (a *arena) endNode() { a.temp, a.temp64 = a.temp[:0], a.temp64[:0] }

// view returns a tensor sharing t's data with another shape (Reshape, Flatten, Squeeze),
// its header from the arena.
func (a *arena) view(t *tensor.Tensor, shape []int) *tensor.Tensor {
	if a == nil {
		return reshaped(t, shape)
	}
	v := a.tensor()
	v.DType, v.Shape, v.Strides, v.Offset, v.Data = t.DType, append(v.Shape[:0], shape...), nil, 0, t.Data
	return v
}

// result returns t as a kernel's one-element output slice. The slice is the arena's own,
// reused by the next kernel: Run reads a kernel's outputs before it runs another.
func (a *arena) result(t *tensor.Tensor) []*tensor.Tensor {
	if a == nil {
		return []*tensor.Tensor{t}
	}
	a.out1[0] = t
	return a.out1[:]
}

// single turns a one-output kernel's (tensor, error) into a kernel's results.
func (a *arena) single(t *tensor.Tensor, err error) ([]*tensor.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return a.result(t), nil
}

// alloc returns n bytes, zeroed when zero is set (a kernel that writes every element asks
// for uninitialized memory).
func (a *arena) alloc(n int, zero bool) []byte {
	if a == nil {
		return make([]byte, n)
	}
	if n == 0 {
		return []byte{}
	}
	c, off := a.take(n)
	buf := c.mem[off : off+n : off+n]
	if zero {
		clear(buf)
	}
	a.owned = append(a.owned, ownedBuf{buf: buf, c: c, off: off})
	return buf
}

// getScratch returns n float32s of uninitialized scratch space, to give back with
// putScratch. It may be called from any goroutine. Scratch is carved from the chunks that
// hold the values (chunk.go), so a kernel's temporary space reuses what earlier values
// left; whatever a kernel did not give back is reclaimed when the Run ends.
func (a *arena) getScratch(n int) []float32 {
	if n == 0 {
		return nil
	}
	if a == nil {
		return make([]float32, n)
	}
	c, off := a.take(4 * n)
	a.chunkMu.Lock()
	defer a.chunkMu.Unlock()
	a.scratch = append(a.scratch, ownedBuf{buf: c.mem[off : off+4*n : off+4*n], c: c, off: off})
	return unsafe.Slice((*float32)(unsafe.Pointer(&c.mem[off])), n)
}

// float64s views a scratch buffer of 2n float32s as n float64s. The buffer starts on a
// multiple of chunkAlign in a chunk from make (getScratch), so it is 8-byte aligned.
func float64s(b []float32) []float64 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
}

// putScratch gives back a buffer from getScratch.
func (a *arena) putScratch(b []float32) {
	if a == nil || cap(b) == 0 {
		return
	}
	a.chunkMu.Lock()
	defer a.chunkMu.Unlock()
	p := unsafe.Pointer(unsafe.SliceData(b))
	for i, o := range a.scratch {
		if unsafe.Pointer(unsafe.SliceData(o.buf)) == p {
			o.giveBack()
			a.scratch = slices.Delete(a.scratch, i, i+1)
			return
		}
	}
}

// gemmScratch lends sgemm.Run the arena's scratch buffers and worker count.
type gemmScratch struct{ a *arena }

func (s gemmScratch) Get(n int) []float32 { return s.a.getScratch(n) }
func (s gemmScratch) Put(buf []float32)   { s.a.putScratch(buf) }
func (s gemmScratch) MaxWorkers() int     { return s.a.maxWorkers() }

// find returns the index of the owned buffer that holds t's data, or -1.
func (a *arena) find(t *tensor.Tensor) int {
	if t == nil || cap(t.Data) == 0 {
		return -1
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(t.Data)))
	for i := range a.owned {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(a.owned[i].buf)))
		if p >= base && p < base+uintptr(cap(a.owned[i].buf)) {
			return i
		}
	}
	return -1
}

// sole reports whether t is the one live value using its buffer, and covers all of it.
func (a *arena) sole(t *tensor.Tensor) bool {
	i := a.find(t)
	return i >= 0 && a.owned[i].refs == 1 && len(t.Data) == len(a.owned[i].buf) &&
		unsafe.SliceData(t.Data) == unsafe.SliceData(a.owned[i].buf)
}

// elementwiseOut returns the output of an element-wise kernel reading x, of x's shape and
// dtype dt: x itself when the Runner offered it (arena.donor: nothing reads x after this
// node), else a new uninitialized tensor. Only a kernel that computes each output element
// from the input element at the same position, and reads that element before it writes
// the output's, may ask for it.
func elementwiseOut[T any](a *arena, x *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, []T) {
	if a != nil && a.donor == x && x != nil && dt.Size() == x.DType.Size() {
		a.donor, a.donated = nil, true
		v := a.view(x, x.Shape)
		v.DType = dt
		return v, elems[T](v)
	}
	return newTensorIn[T](a, dt, x.Shape, false)
}

// retain records one more live value that uses t's buffer.
func (a *arena) retain(t *tensor.Tensor) {
	if i := a.find(t); i >= 0 {
		a.owned[i].refs++
	}
}

// release records that a value using t's buffer is dead, and recycles the buffer when it
// was the last one.
func (a *arena) release(t *tensor.Tensor) {
	i := a.find(t)
	if i < 0 {
		return
	}
	a.owned[i].refs--
	if a.owned[i].refs > 0 {
		return
	}
	a.chunkMu.Lock()
	a.owned[i].giveBack()
	a.chunkMu.Unlock()
	last := len(a.owned) - 1
	a.owned[i], a.owned[last] = a.owned[last], ownedBuf{}
	a.owned = a.owned[:last]
}

// take returns a span of n bytes: carved from a chunk, or a new chunk.
func (a *arena) take(n int) (*chunk, int) {
	a.chunkMu.Lock()
	defer a.chunkMu.Unlock()
	if c, off := carve(a.chunks, n); c != nil {
		return c, off
	}
	release := a.reserveBudget(n)
	c := &chunk{mem: make([]byte, spanSize(n))}
	release()
	a.chunks = append(a.chunks, c)
	return c, 0
}

// giveBack returns the buffer's span to its chunk.
func (o ownedBuf) giveBack() { o.c.giveBack(o.off, cap(o.buf)) }

// trimChunks drops the chunks the arena no longer carves from, and empty chunks beyond
// arenaMaxChunks.
func (a *arena) trimChunks() {
	kept := 0
	a.chunks = slices.DeleteFunc(a.chunks, func(c *chunk) bool {
		if c.gone || (c.empty() && kept >= arenaMaxChunks) {
			return true
		}
		kept++
		return false
	})
}

// finish ends a successful Run: buffers no value references (kernel temporaries, unnamed
// outputs, scratch not given back) become free, and the chunks are trimmed for the next Run. Buffers still
// referenced are the returned values': detach forgets them (they belong to the caller now),
// otherwise they stay owned until the Runner's next Run releases them.
func (a *arena) finish(detach bool) {
	a.chunkMu.Lock()
	defer a.chunkMu.Unlock()
	for _, o := range a.scratch { // not given back: no kernel runs now
		o.giveBack()
	}
	clear(a.scratch)
	a.scratch = a.scratch[:0]
	kept := a.owned[:0]
	for _, o := range a.owned {
		switch {
		case o.refs == 0:
			o.giveBack()
		case !detach:
			kept = append(kept, o)
		default:
			o.c.gone = true // the caller has part of it now
		}
	}
	clear(a.owned[len(kept):])
	a.owned = kept
	a.trimChunks()
	// Headers are recycled once no returned value can use them: Graph.Run hands the caller
	// copies, a Runner's values stay valid until its next Run has finished.
	a.spareHeaders = append(a.spareHeaders, a.lastHeaders...)
	clear(a.lastHeaders)
	a.lastHeaders = a.lastHeaders[:0]
	if detach {
		a.spareHeaders = append(a.spareHeaders, a.headers...)
		clear(a.headers)
		a.headers = a.headers[:0]
	} else {
		a.lastHeaders, a.headers = a.headers, a.lastHeaders
	}
	a.out1[0] = nil
	if len(a.spareHeaders) > arenaMaxHeaders {
		clear(a.spareHeaders[arenaMaxHeaders:])
		a.spareHeaders = a.spareHeaders[:arenaMaxHeaders]
	}
}

// newTensorIn allocates a contiguous tensor from the arena and returns its typed elements,
// zeroed unless zero is false (the kernel then writes every element).
func newTensorIn[T any](a *arena, dt tensor.DType, shape []int, zero bool) (*tensor.Tensor, []T) {
	n, ok := numel(shape)
	if !ok || a == nil {
		return newTensor[T](dt, slices.Clone(shape)) // a clone keeps shape itself off the heap
	}
	t := a.tensor()
	t.DType, t.Shape, t.Strides, t.Offset = dt, append(t.Shape[:0], shape...), nil, 0
	t.Data = a.alloc(n*dt.Size(), zero)
	return t, elems[T](t)
}

// numel is tensor.Numel without the error, whose message would move every shape passed to
// newTensorIn to the heap: false for a negative or overflowing size.
func numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxNumel/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

const maxNumel = int(^uint(0) >> 1)
