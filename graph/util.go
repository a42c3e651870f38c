package graph

import (
	"fmt"
	"unsafe"

	"github.com/qscript-dev/qscript/tensor"
)

// number is every element type a kernel may compute in; bool tensors are viewed as uint8.
type number interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~int16 | ~int8 | ~uint8
}

// word is an element of a given byte size, for kernels that only move elements around.
type word interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// elems views the data of a contiguous tensor as a slice of T without copying.
func elems[T any](t *tensor.Tensor) []T {
	var zero T
	n := t.Numel()
	if n == 0 {
		return nil
	}
	if need := n * int(unsafe.Sizeof(zero)); len(t.Data)-t.Offset*t.DType.Size() < need || !t.IsContiguous() {
		panic(fmt.Sprintf("graph: tensor %v %v does not hold %d contiguous elements", t.DType, t.Shape, n))
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&t.Data[0])), n)
}

// newTensor allocates a zeroed contiguous tensor and returns its typed elements.
func newTensor[T any](dt tensor.DType, shape []int) (*tensor.Tensor, []T) {
	t := tensor.New(dt, shape...)
	return t, elems[T](t)
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := int(axis)
	if a < -rank || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if a < 0 {
		a += rank
	}
	return a, nil
}

// toInts reads an integer tensor (int64 or int32) as a copy of its values, in mem's
// temporary int64s (valid until the node ends; from the heap when mem is nil).
func toInts(mem *arena, t *tensor.Tensor) ([]int64, error) {
	switch t.DType {
	case tensor.I64:
		v := elems[int64](t)
		out := mem.int64s(len(v))
		copy(out, v)
		return out, nil
	case tensor.I32:
		v := elems[int32](t)
		out := mem.int64s(len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected an int64 or int32 tensor, got %v", t.DType)
}

// dims converts the values of a shape tensor to a shape.
func dims(v []int64) []int {
	out := make([]int, len(v))
	for i, d := range v {
		out[i] = int(d)
	}
	return out
}

// shapeTensor returns a 1-D int64 tensor of the dims s, from mem.
func shapeTensor(mem *arena, s []int) *tensor.Tensor {
	t, d := newTensorIn[int64](mem, tensor.I64, []int{len(s)}, false)
	for i, v := range s {
		d[i] = int64(v)
	}
	return t
}

// intsTensor returns a 1-D int64 tensor of v's values, from mem.
func intsTensor(mem *arena, v []int64) *tensor.Tensor {
	t, d := newTensorIn[int64](mem, tensor.I64, []int{len(v)}, false)
	copy(d, v)
	return t
}

// reshaped returns a tensor sharing t's data with another shape.
func reshaped(t *tensor.Tensor, shape []int) *tensor.Tensor {
	return &tensor.Tensor{DType: t.DType, Shape: append([]int{}, shape...), Data: t.Data}
}

func product(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// broadcastShapes returns the numpy-broadcast shape of its arguments. At load time their
// dims may be unknown (-1): a -1 broadcast with 1 or -1 stays unknown, with n gives n.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == 1 || d == o:
			case o == 1:
				out[off+i] = d
			case d == -1:
			case o == -1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapes)
			}
		}
	}
	return out, nil
}

// inferBroadcast is broadcastShapes at load time: nil (unknown) when a rank is unknown.
func inferBroadcast(shapes ...[]int) ([]int, error) {
	for _, s := range shapes {
		if s == nil {
			return nil, nil
		}
	}
	return broadcastShapes(shapes...)
}

// rowPlan is a broadcast iteration over a shape, as rows of its last dimension, with each
// operand's element strides. Dims of size one are dropped and neighbouring dims merged where
// every operand steps through them as through one dim, so rows are as long as they can be.
type rowPlan struct {
	dims    []int            // merged dims, the last one being the row length
	strides [maxRowOps][]int // per operand, per merged dim
	ops     int              // number of operands
	inner   int              // row length
	rows    int              // number of rows
	last    [maxRowOps]int   // per operand, the stride along a row
}

// maxRowOps is the most operands a rowPlan iterates (Where's three).
const maxRowOps = 3

// planRows plans the iteration; its slices are mem's temporary ints.
func planRows(mem *arena, shape []int, strides ...[]int) rowPlan {
	if len(strides) > maxRowOps {
		panic(fmt.Sprintf("graph: planRows of %d operands (at most %d)", len(strides), maxRowOps))
	}
	r := len(shape)
	buf := mem.ints((len(strides) + 1) * r)
	p := rowPlan{dims: buf[:0:r], ops: len(strides)}
	for k := range strides {
		p.strides[k] = buf[(k+1)*r : (k+1)*r : (k+2)*r]
	}
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if n := len(p.dims); n > 0 && mergeable(p.strides[:p.ops], strides, i, d) {
			p.dims[n-1] *= d
			for k := range strides {
				p.strides[k][n-1] = strides[k][i]
			}
			continue
		}
		p.dims = append(p.dims, d)
		for k := range strides {
			p.strides[k] = append(p.strides[k], strides[k][i])
		}
	}
	p.inner, p.rows = 1, 1
	if n := len(p.dims); n > 0 {
		p.inner = p.dims[n-1]
		p.rows = product(p.dims[:n-1])
		for k := range strides {
			p.last[k] = p.strides[k][n-1]
		}
	}
	if product(shape) == 0 {
		p.rows = 0
	}
	return p
}

// mergeable reports whether dim i (size d) continues the previous merged dim for every
// operand: the merged dim's stride is dim i's stride times d.
func mergeable(merged, strides [][]int, i, d int) bool {
	for k := range strides {
		if merged[k][len(merged[k])-1] != strides[k][i]*d {
			return false
		}
	}
	return true
}

// scratchLen is the length of the scratch each needs.
func (p *rowPlan) scratchLen() int { return max(len(p.dims)-1, 0) + p.ops }

// each calls row for rows lo..hi with the row's flat offset in the iterated shape and each
// operand's offset. scratch (scratchLen long; nil: allocated) holds the running index and the
// offsets passed to row.
func (p *rowPlan) each(lo, hi int, scratch []int, row func(dstOff int, offs []int)) {
	if lo >= hi {
		return
	}
	outer := p.dims[:max(len(p.dims)-1, 0)]
	if scratch == nil {
		scratch = make([]int, p.scratchLen())
	}
	idx, offs := scratch[:len(outer)], scratch[len(outer):len(outer)+p.ops]
	clear(idx)
	clear(offs)
	rest := lo
	for d := len(outer) - 1; d >= 0; d-- {
		idx[d] = rest % outer[d]
		rest /= outer[d]
		for k := range offs {
			offs[k] += idx[d] * p.strides[k][d]
		}
	}
	for r := lo; r < hi; r++ {
		row(r*p.inner, offs)
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d]++
			for k := range offs {
				offs[k] += p.strides[k][d]
			}
			if idx[d] < outer[d] {
				break
			}
			for k := range offs {
				offs[k] -= p.strides[k][d] * outer[d]
			}
			idx[d] = 0
		}
	}
}

// serial runs each over all rows on the calling goroutine, its scratch from mem.
func (p *rowPlan) serial(mem *arena, row func(dstOff int, offs []int)) {
	p.each(0, p.rows, mem.ints(p.scratchLen()), row)
}

// contiguousStridesIn is tensor.ContiguousStrides into mem's temporary ints.
func contiguousStridesIn(mem *arena, shape []int) []int {
	st := mem.ints(len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// broadcastStridesIn gives the element strides of shape s seen as the broadcast shape out
// (0 along broadcast dimensions), in mem's temporary ints (from the heap when mem is nil).
func broadcastStridesIn(mem *arena, s, out []int) []int {
	st := mem.ints(len(out))
	off := len(out) - len(s)
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[off+i] = acc
		}
		acc *= s[i]
	}
	return st
}

// maxOutputElements caps the tensors that ops sizing their output from data (ConstantOfShape,
// Expand, Tile, Range, Pad) may create, so a hostile model fails with an error instead of
// exhausting memory.
const maxOutputElements = 1 << 30

func checkOutputSize(shape []int) error {
	n, err := tensor.Numel(shape)
	if err != nil {
		return err
	}
	if n > maxOutputElements {
		return fmt.Errorf("output shape %v has %d elements (limit %d)", shape, n, maxOutputElements)
	}
	return nil
}

// checkBroadcastSize bounds the broadcast of two shapes ([N 1] and [1 N] give N²) before
// anything is allocated, without allocating itself (elementwise ops run in calibration's
// allocation-free Runners).
func checkBroadcastSize(a, b []int) error {
	n, ra, rb := 1, len(a), len(b)
	for i := 1; i <= max(ra, rb); i++ {
		d := 1
		if i <= ra {
			d = a[ra-i]
		}
		if i <= rb && b[rb-i] != 1 {
			d = b[rb-i]
		}
		if d < 0 {
			return nil
		}
		if d > 0 && n > maxOutputElements/d {
			return fmt.Errorf("broadcasting %v with %v gives more than %d elements", a, b, maxOutputElements)
		}
		n *= d
	}
	return nil
}
