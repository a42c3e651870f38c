package data

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// Tensors is a source over tensors in memory whose first axis is the sample axis: one
// per input name ("" for a model's only input) and an optional target (nil for none).
// Every tensor must have the same number of samples. The tensors are shared, not
// copied, and must not be modified while the source is used.
func Tensors(inputs map[string]*tensor.Tensor, target *tensor.Tensor) (Source, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("data: tensors: no input tensors")
	}
	src := &memorySource{name: "tensors", inputs: make(map[string]*tensor.Tensor, len(inputs)), n: -1}
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		if err := src.add(name, inputs[name]); err != nil {
			return nil, err
		}
	}
	if target != nil {
		if err := src.setTarget("target", target); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// Samples is a source over samples built one by one (the Lua bindings' tables): each
// sample's tensors have no batch axis, and every sample must have the same input names,
// shapes and dtypes. The samples are stacked into batches when read.
func Samples(samples []Sample) (Source, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("data: samples: %w", ErrEmpty)
	}
	first := samples[0]
	if len(first.Inputs) == 0 {
		return nil, fmt.Errorf("data: sample 1: no input tensors")
	}
	stacked := make(map[string]*tensor.Tensor, len(first.Inputs))
	for _, name := range slices.Sorted(maps.Keys(first.Inputs)) {
		parts := make([]*tensor.Tensor, len(samples))
		for i, s := range samples {
			t, ok := s.Inputs[name]
			if !ok || len(s.Inputs) != len(first.Inputs) {
				return nil, fmt.Errorf("data: sample %d: inputs %v differ from sample 1's %v", i+1, slices.Sorted(maps.Keys(s.Inputs)), slices.Sorted(maps.Keys(first.Inputs)))
			}
			parts[i] = t
		}
		t, err := stack(parts, fmt.Sprintf("input %q", name))
		if err != nil {
			return nil, err
		}
		stacked[name] = t
	}
	var target *tensor.Tensor
	if first.Target != nil {
		parts := make([]*tensor.Tensor, len(samples))
		for i, s := range samples {
			if s.Target == nil {
				return nil, fmt.Errorf("data: sample %d has no target, sample 1 has one", i+1)
			}
			parts[i] = s.Target
		}
		var err error
		if target, err = stack(parts, "target"); err != nil {
			return nil, err
		}
	}
	src, err := Tensors(stacked, target)
	if err != nil {
		return nil, err
	}
	src.(*memorySource).name = "samples"
	return src, nil
}

// stack concatenates same-shaped tensors along a new first axis.
func stack(parts []*tensor.Tensor, what string) (*tensor.Tensor, error) {
	first := parts[0]
	out := tensor.New(first.DType, append([]int{len(parts)}, first.Shape...)...)
	size := first.Nbytes()
	for i, p := range parts {
		if p.DType != first.DType || !slices.Equal(p.Shape, first.Shape) {
			return nil, fmt.Errorf("data: sample %d: %s is %v %s, sample 1's is %v %s", i+1, what, p.DType, ShapeString(p.Shape), first.DType, ShapeString(first.Shape))
		}
		copy(out.Data[i*size:(i+1)*size], p.Contiguous().Data[:size])
	}
	return out, nil
}

// memorySource serves arrays held in memory (or in a memory map when copy is set).
type memorySource struct {
	name   string
	inputs map[string]*tensor.Tensor
	target *tensor.Tensor
	n      int
	// copy makes batches own their data: set when the arrays live in a mapping that the
	// reader's Close releases.
	copy bool
	// consts are 0-d arrays of an archive: one value, repeated for every sample of a batch.
	consts map[string]*tensor.Tensor
}

func (s *memorySource) add(name string, t *tensor.Tensor) error {
	if len(t.Shape) == 0 {
		return fmt.Errorf("data: %s: array %q is a scalar; its first axis must count the samples", s.name, name)
	}
	if s.n >= 0 && t.Shape[0] != s.n {
		return fmt.Errorf("data: %s: array %q has %d samples, the others have %d", s.name, name, t.Shape[0], s.n)
	}
	s.n = t.Shape[0]
	s.inputs[name] = t.Contiguous()
	return nil
}

func (s *memorySource) setTarget(name string, t *tensor.Tensor) error {
	if len(t.Shape) == 0 || (s.n >= 0 && t.Shape[0] != s.n) {
		return fmt.Errorf("data: %s: target %q has shape %s, want %d samples on its first axis", s.name, name, ShapeString(t.Shape), s.n)
	}
	s.target = t.Contiguous()
	return nil
}

func (s *memorySource) Name() string    { return s.name }
func (s *memorySource) Len() int        { return s.n }
func (s *memorySource) HasTarget() bool { return s.target != nil }

func (s *memorySource) Inputs() []tensor.Info {
	infos := make([]tensor.Info, 0, len(s.inputs))
	for _, name := range slices.Sorted(maps.Keys(s.inputs)) {
		t := s.inputs[name]
		infos = append(infos, tensor.Info{Name: name, DType: t.DType, Shape: append([]int{}, t.Shape[1:]...)})
	}
	return infos
}

func (s *memorySource) Open(ctx context.Context) (Reader, error) {
	return &memoryReader{src: s}, nil
}

type memoryReader struct {
	src  *memorySource
	next int
	// release runs at Close (unmapping a file, say).
	release func() error
	spare   spareBatches
}

func (r *memoryReader) Next(max int) (*Batch, error) {
	if max < 1 {
		return nil, fmt.Errorf("data: batch size %d: must be at least 1", max)
	}
	if r.next >= r.src.n {
		return nil, io.EOF
	}
	lo, hi := r.next, min(r.next+max, r.src.n)
	r.next = hi
	b := r.spare.take()
	if b == nil || len(b.Inputs) != len(r.src.inputs)+len(r.src.consts) {
		b = &Batch{Inputs: make(map[string]*tensor.Tensor, len(r.src.inputs)+len(r.src.consts))}
	}
	for name, t := range r.src.inputs {
		b.Inputs[name] = r.rows(b.Inputs[name], t, lo, hi)
	}
	for name, t := range r.src.consts {
		b.Inputs[name] = repeat(t, hi-lo)
	}
	b.Len = hi - lo
	if r.src.target != nil {
		b.Target = r.rows(b.Target, r.src.target, lo, hi)
	} else {
		b.Target = nil
	}
	return b, nil
}

// rows returns rows [lo, hi) of t, whose first axis is the sample axis: a view of t, or a
// copy when the source asks for one (see memorySource.copy). It reuses dst, a recycled
// batch's tensor, when there is one.
func (r *memoryReader) rows(dst, t *tensor.Tensor, lo, hi int) *tensor.Tensor {
	rowBytes := t.DType.Size()
	for _, d := range t.Shape[1:] {
		rowBytes *= d
	}
	data := t.Data[lo*rowBytes : hi*rowBytes]
	if dst == nil {
		dst = &tensor.Tensor{}
	}
	dst.DType, dst.Strides, dst.Offset = t.DType, nil, 0
	dst.Shape = append(append(dst.Shape[:0], hi-lo), t.Shape[1:]...)
	if !r.src.copy {
		dst.Data = data
		return dst
	}
	if cap(dst.Data) < len(data) {
		dst.Data = tensor.New(tensor.U8, len(data)).Data
	}
	dst.Data = dst.Data[:len(data)]
	copy(dst.Data, data)
	return dst
}

// Recycle keeps b's tensors (and, for copied rows, their buffers) for a later batch.
func (r *memoryReader) Recycle(b *Batch) { r.spare.put(b) }

func (r *memoryReader) Close() error {
	if r.release != nil {
		err := r.release()
		r.release = nil
		return err
	}
	return nil
}

// repeat stacks n copies of a 0-d tensor: [n].
func repeat(t *tensor.Tensor, n int) *tensor.Tensor {
	out := tensor.New(t.DType, n)
	size := t.DType.Size()
	for i := range n {
		copy(out.Data[i*size:(i+1)*size], t.Data[:size])
	}
	return out
}
