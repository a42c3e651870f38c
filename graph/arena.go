package graph

import (
	"sync"
	"unsafe"

	"github.com/qscript-dev/qscript/tensor"
)

// arena recycles the buffers of intermediate values within a Run and across Runs of one
// Graph. Kernels allocate their outputs from it; Run counts, per buffer, the live values that
// reference it (views such as Reshape share their input's buffer) and hands a buffer back
// once none does. Values Run returns (outputs, Keep) are never released, so their buffers
// leave the arena with them.
//
// An arena belongs to one Run and is used only from the goroutine that calls Run; kernels'
// worker goroutines take their scratch space from getBuf instead. A nil *arena allocates from
// the heap (Load's constant evaluation).
type arena struct {
	owned []ownedBuf // buffers handed out during this Run and still referenced or recyclable
	free  [][]byte   // buffers no live value references
}

// ownedBuf is a buffer the arena handed out and the number of live values that use it.
type ownedBuf struct {
	buf  []byte
	refs int
}

// arenaMinBytes is the size below which tensors come from the heap: small shape tensors are
// cheap to allocate and not worth the bookkeeping.
const arenaMinBytes = 4096

// arenaMaxFree bounds the free buffers an arena keeps between Runs.
const arenaMaxFree = 64

// alloc returns n bytes, zeroed when zero is set (a kernel that writes every element asks
// for uninitialized memory).
func (a *arena) alloc(n int, zero bool) []byte {
	if a == nil || n < arenaMinBytes {
		return make([]byte, n)
	}
	best := -1
	for i, b := range a.free {
		// The smallest free buffer that fits and wastes at most half of itself.
		if cap(b) >= n && cap(b) <= 2*n && (best < 0 || cap(b) < cap(a.free[best])) {
			best = i
		}
	}
	var buf []byte
	if best >= 0 {
		buf = a.free[best][:n]
		a.free[best] = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		if zero {
			clear(buf)
		}
	} else {
		buf = make([]byte, n)
	}
	a.owned = append(a.owned, ownedBuf{buf: buf})
	return buf
}

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
	a.free = append(a.free, a.owned[i].buf[:cap(a.owned[i].buf)])
	a.owned[i] = a.owned[len(a.owned)-1]
	a.owned = a.owned[:len(a.owned)-1]
}

// finish ends a successful Run: buffers no value references (kernel temporaries, unnamed
// outputs) become free, buffers of returned values are forgotten, and the free list is
// trimmed for the next Run.
func (a *arena) finish() {
	for _, o := range a.owned {
		if o.refs == 0 {
			a.free = append(a.free, o.buf[:cap(o.buf)])
		}
	}
	clear(a.owned)
	a.owned = a.owned[:0]
	if len(a.free) > arenaMaxFree {
		clear(a.free[arenaMaxFree:])
		a.free = a.free[:arenaMaxFree]
	}
}

// arenas is a Graph's pool of arenas left by finished Runs.
type arenas struct{ pool sync.Pool }

func (p *arenas) get() *arena {
	if a, ok := p.pool.Get().(*arena); ok {
		return a
	}
	return &arena{}
}

func (p *arenas) put(a *arena) {
	a.finish()
	p.pool.Put(a)
}

// newTensorIn allocates a contiguous tensor from the arena and returns its typed elements,
// zeroed unless zero is false (the kernel then writes every element).
func newTensorIn[T any](a *arena, dt tensor.DType, shape []int, zero bool) (*tensor.Tensor, []T) {
	n, err := tensor.Numel(shape)
	if err != nil || a == nil {
		return newTensor[T](dt, shape)
	}
	t := &tensor.Tensor{DType: dt, Shape: append([]int{}, shape...), Data: a.alloc(n*dt.Size(), zero)}
	return t, elems[T](t)
}
