package graph

import (
	"cmp"
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// Ops that copy their input's elements into another arrangement: Transpose, Slice, Expand and
// Tile read it through strides (strided), Concat and Split copy whole rows.

func init() {
	ops["Transpose"] = buildTranspose
	ops["Slice"] = buildSlice
	ops["Concat"] = buildConcat
	ops["Split"] = buildSplit
	ops["Expand"] = buildExpand
	ops["Tile"] = buildTile
}

func buildTranspose(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	perm, hasPerm := b.attrInts("perm")
	permFor := func(rank int) ([]int, error) {
		p := make([]int, rank)
		seen := make([]bool, rank)
		for i := range p {
			p[i] = rank - 1 - i
			if hasPerm {
				if len(perm) != rank {
					return nil, fmt.Errorf("perm %v for rank %d", perm, rank)
				}
				a, err := normAxis(perm[i], rank)
				if err != nil || seen[a] {
					return nil, fmt.Errorf("invalid perm %v", perm)
				}
				p[i], seen[a] = a, true
			}
		}
		return p, nil
	}
	b.setOut(0, b.in(0).DType, nil)
	if s := b.in(0).Shape; s != nil {
		p, err := permFor(len(s))
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		o := make([]int, len(s))
		for i, a := range p {
			o[i] = s[a]
		}
		b.setOut(0, b.in(0).DType, o)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		p, err := permFor(len(ins[0].Shape))
		if err != nil {
			return nil, err
		}
		return mem.result(transpose(mem, ins[0], p)), nil
	}, nil
}

// transpose returns a contiguous copy of x with dimension i of the result being x's perm[i].
func transpose(mem *arena, x *tensor.Tensor, perm []int) *tensor.Tensor {
	in := contiguousStridesIn(mem, x.Shape)
	shape := mem.ints(len(perm))
	strides := mem.ints(len(perm))
	for i, a := range perm {
		shape[i], strides[i] = x.Shape[a], in[a]
	}
	return strided(mem, x, shape, strides, 0)
}

// strided returns a contiguous tensor of the given shape whose element idx is x's element
// base + sum(idx*strides): a transpose, slice, diagonal or broadcast of x.
func strided(mem *arena, x *tensor.Tensor, shape, strides []int, base int) *tensor.Tensor {
	switch x.DType.Size() {
	case 1:
		return stridedT[uint8](mem, x, shape, strides, base)
	case 2:
		return stridedT[uint16](mem, x, shape, strides, base)
	case 4:
		return stridedT[uint32](mem, x, shape, strides, base)
	default:
		return stridedT[uint64](mem, x, shape, strides, base)
	}
}

func stridedT[W word](mem *arena, x *tensor.Tensor, shape, strides []int, base int) *tensor.Tensor {
	out, d := newTensorIn[W](mem, x.DType, shape, false)
	gatherStrided(mem, d, elems[W](x), shape, strides, base)
	return out
}

// gatherStrided fills d (C order over shape) from src read at base + sum(idx*strides).
func gatherStrided[W any](mem *arena, d, src []W, shape, strides []int, base int) {
	if len(d) == 0 {
		return
	}
	p := planRows(mem, shape, strides)
	inner, ls := p.inner, p.last[0]
	p.serial(mem, func(o int, offs []int) {
		s := base + offs[0]
		row := d[o : o+inner]
		if ls == 1 {
			copy(row, src[s:s+inner])
			return
		}
		for j := range row {
			row[j] = src[s]
			s += ls
		}
	})
}

func buildSlice(b *builder) (kernel, error) {
	if err := b.arity(1, 5, 1, 1); err != nil {
		return nil, err
	}
	attrStarts, hasStarts := b.attrInts("starts") // opset < 10
	attrEnds, _ := b.attrInts("ends")
	attrAxes, _ := b.attrInts("axes")
	if !hasStarts && len(b.n.Inputs) < 3 {
		return nil, b.errorf("needs starts and ends inputs")
	}
	if err := b.dtypesOf(1, 5, intTypes...); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, nil)
	if s := b.in(0).Shape; s != nil {
		b.setOut(0, b.in(0).DType, make([]int, len(s)))
		for i := range b.out[0].Shape {
			b.out[0].Shape[i] = -1
		}
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		starts, ends, axes, steps := attrStarts, attrEnds, attrAxes, []int64(nil)
		var err error
		if len(ins) > 1 {
			if starts, err = toInts(mem, ins[1]); err != nil {
				return nil, err
			}
			if ends, err = toInts(mem, ins[2]); err != nil {
				return nil, err
			}
			if axes, err = axesFrom(mem, ins, 3, nil); err != nil {
				return nil, err
			}
			if steps, err = axesFrom(mem, ins, 4, nil); err != nil {
				return nil, err
			}
		}
		return mem.single(slice(mem, ins[0], starts, ends, axes, steps))
	}, nil
}

func slice(mem *arena, x *tensor.Tensor, starts, ends, axes, steps []int64) (*tensor.Tensor, error) {
	rank := len(x.Shape)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	first := make([]int, rank)
	step := make([]int, rank)
	shape := append([]int{}, x.Shape...)
	for i := range step {
		step[i] = 1
	}
	seen := make([]bool, rank)
	for i := range starts {
		ax := i
		if axes != nil {
			var err error
			if ax, err = normAxis(axes[i], rank); err != nil {
				return nil, err
			}
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d repeated", ax)
		}
		seen[ax] = true
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, fmt.Errorf("step 0")
		}
		dim := int64(x.Shape[ax])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var n int64
		if st > 0 {
			s, e = clamp64(s, 0, dim), clamp64(e, 0, dim)
			if e > s {
				n = (e - s + st - 1) / st
			}
		} else {
			s, e = clamp64(s, 0, dim-1), clamp64(e, -1, dim-1)
			if s > e {
				n = (s - e + (-st) - 1) / (-st)
			}
		}
		first[ax], step[ax], shape[ax] = int(s), int(st), int(n)
	}
	in := tensor.ContiguousStrides(x.Shape)
	base := 0
	strides := make([]int, rank)
	for d := range in {
		base += first[d] * in[d]
		strides[d] = step[d] * in[d]
	}
	return strided(mem, x, shape, strides, base), nil
}

func clamp64(v, lo, hi int64) int64 {
	return max(lo, min(hi, v))
}

func buildConcat(b *builder) (kernel, error) {
	if err := b.arity(1, 1<<16, 1, 1); err != nil {
		return nil, err
	}
	a, ok := b.attr("axis")
	if !ok {
		return nil, b.errorf("missing attribute axis")
	}
	axis := a.Int
	idx := make([]int, len(b.n.Inputs))
	for i := range idx {
		idx[i] = i
	}
	if err := b.sameDTypes(idx...); err != nil {
		return nil, err
	}
	var outShape []int
	for i := range idx {
		s := b.in(i).Shape
		if s == nil {
			outShape = nil
			break
		}
		ax, err := normAxis(axis, len(s))
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		if i == 0 {
			outShape = append([]int{}, s...)
			continue
		}
		if len(s) != len(outShape) {
			return nil, b.errorf("input %d has rank %d, input 0 has %d", i, len(s), len(outShape))
		}
		if outShape[ax] >= 0 && s[ax] >= 0 {
			outShape[ax] += s[ax]
		} else {
			outShape[ax] = -1
		}
	}
	b.setOut(0, b.in(0).DType, outShape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.single(concat(mem, ins, axis))
	}, nil
}

func concat(mem *arena, ins []*tensor.Tensor, axis int64) (*tensor.Tensor, error) {
	first := ins[0]
	ax, err := normAxis(axis, len(first.Shape))
	if err != nil {
		return nil, err
	}
	shape := append([]int{}, first.Shape...)
	shape[ax] = 0
	for i, t := range ins {
		if t.DType != first.DType || len(t.Shape) != len(shape) {
			return nil, fmt.Errorf("input %d is %v %v, input 0 is %v %v", i, t.DType, t.Shape, first.DType, first.Shape)
		}
		for d := range shape {
			if d != ax && t.Shape[d] != first.Shape[d] {
				return nil, fmt.Errorf("input %d has shape %v, input 0 has %v (axis %d)", i, t.Shape, first.Shape, ax)
			}
		}
		shape[ax] += t.Shape[ax]
	}
	out, _ := newTensorIn[byte](mem, first.DType, shape, false)
	es := first.DType.Size()
	outer := product(shape[:ax])
	rowOut := product(shape[ax:]) * es
	pos := 0
	for _, t := range ins {
		chunk := product(t.Shape[ax:]) * es
		for o := 0; o < outer; o++ {
			copy(out.Data[o*rowOut+pos:o*rowOut+pos+chunk], t.Data[o*chunk:(o+1)*chunk])
		}
		pos += chunk
	}
	return out, nil
}

func buildSplit(b *builder) (kernel, error) {
	if err := b.arity(1, 2, 1, 1<<16); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 0)
	attrSplit, _ := b.attrInts("split")
	numOutputs := b.attrInt("num_outputs", 0)
	nOut := len(b.n.Outputs)
	if numOutputs != 0 && int(numOutputs) != nOut {
		return nil, b.errorf("num_outputs=%d but the node has %d outputs", numOutputs, nOut)
	}
	for i := range b.n.Outputs {
		b.setOut(i, b.in(0).DType, nil)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		spec := attrSplit
		if len(ins) > 1 && ins[1] != nil {
			if spec, err = toInts(nil, ins[1]); err != nil {
				return nil, err
			}
		}
		parts, err := splitSizes(spec, x.Shape[ax], nOut, numOutputs != 0)
		if err != nil {
			return nil, err
		}
		es := x.DType.Size()
		outer := product(x.Shape[:ax])
		inner := product(x.Shape[ax+1:]) * es
		rowIn := x.Shape[ax] * inner
		outs := make([]*tensor.Tensor, nOut)
		pos := 0
		for i, p := range parts {
			shape := append([]int{}, x.Shape...)
			shape[ax] = p
			o, _ := newTensorIn[byte](mem, x.DType, shape, false)
			chunk := p * inner
			for r := 0; r < outer; r++ {
				copy(o.Data[r*chunk:(r+1)*chunk], x.Data[r*rowIn+pos:r*rowIn+pos+chunk])
			}
			pos += chunk
			outs[i] = o
		}
		return outs, nil
	}, nil
}

// splitSizes is the size along the axis of each of Split's nOut outputs: spec's, or with a
// nil spec equal parts, the last one smaller when uneven (num_outputs) allows it.
func splitSizes(spec []int64, dim, nOut int, uneven bool) ([]int, error) {
	out := make([]int, nOut)
	if spec == nil {
		chunk := (dim + nOut - 1) / nOut
		if !uneven && dim%nOut != 0 {
			return nil, fmt.Errorf("dim %d does not split into %d equal parts", dim, nOut)
		}
		rest := dim
		for i := range out {
			out[i] = min(chunk, rest)
			rest -= out[i]
		}
		return out, nil
	}
	if len(spec) != nOut {
		return nil, fmt.Errorf("split %v has %d parts for %d outputs", spec, len(spec), nOut)
	}
	total := 0
	for i, s := range spec {
		if s < 0 {
			return nil, fmt.Errorf("negative split %v", spec)
		}
		out[i] = int(s)
		total += int(s)
	}
	if total != dim {
		return nil, fmt.Errorf("split %v does not sum to dim %d", spec, dim)
	}
	return out, nil
}

func buildExpand(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, nil)
	if c := b.constIn(1); c != nil && b.in(0).Shape != nil {
		s, _ := toInts(nil, c)
		shape := dims(s)
		o, err := inferBroadcast(b.in(0).Shape, shape)
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		if o != nil && !containsNeg(o) {
			if err := checkOutputSize(o); err != nil { // refused at Load, before any run
				return nil, b.errorf("%v", err)
			}
		}
		b.setOut(0, b.in(0).DType, o)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s, err := toInts(mem, ins[1])
		if err != nil {
			return nil, err
		}
		shape := dims(s)
		target, err := broadcastShapes(ins[0].Shape, shape)
		if err != nil {
			return nil, err
		}
		if err := checkOutputSize(target); err != nil {
			return nil, err
		}
		return mem.result(broadcastTo(ins[0], target)), nil
	}, nil
}

// broadcastTo materializes x broadcast to shape (shape must be a valid broadcast of x).
func broadcastTo(x *tensor.Tensor, shape []int) *tensor.Tensor {
	return strided(nil, x, shape, broadcastStridesIn(nil, x.Shape, shape), 0)
}

func buildTile(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		reps, err := toInts(mem, ins[1])
		if err != nil {
			return nil, err
		}
		if len(reps) != len(x.Shape) {
			return nil, fmt.Errorf("repeats %v for rank %d", reps, len(x.Shape))
		}
		// Tile is a broadcast over an interleaved shape [r0, d0, r1, d1, ...].
		inter := make([]int, 0, 2*len(reps))
		src := make([]int, 0, 2*len(reps))
		out := make([]int, len(reps))
		for i, r := range reps {
			if r < 0 {
				return nil, fmt.Errorf("negative repeat %v", reps)
			}
			inter = append(inter, int(r), x.Shape[i])
			src = append(src, 1, x.Shape[i])
			out[i] = int(r) * x.Shape[i]
		}
		if err := checkOutputSize(out); err != nil {
			return nil, err
		}
		t := broadcastTo(reshaped(x, src), inter)
		return mem.result(reshaped(t, out)), nil
	}, nil
}
