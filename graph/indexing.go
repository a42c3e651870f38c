package graph

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// Index ops: GatherElements, GatherND, ScatterElements (and Scatter, its opset 9-10 name),
// ScatterND, NonZero, Compress, ReverseSequence. They move elements of any dtype as bytes;
// the reductions of the scatters compute in float64 and convert back.

func init() {
	ops["Gather"] = buildGather
	ops["GatherElements"] = buildGatherElements
	ops["ScatterElements"] = buildScatterElements
	ops["Scatter"] = buildScatterElements
	ops["GatherND"] = buildGatherND
	ops["ScatterND"] = buildScatterND
	ops["NonZero"] = buildNonZero
	ops["Compress"] = buildCompress
	ops["ReverseSequence"] = buildReverseSequence
}

// normIndex maps a possibly negative index into [0, dim).
func normIndex(k int64, dim int) (int, error) {
	if k < 0 {
		k += int64(dim)
	}
	if k < 0 || k >= int64(dim) {
		return 0, fmt.Errorf("index %d out of range for dim %d", k, dim)
	}
	return int(k), nil
}

// elementIndex visits every position of indices (shape s, axis ax) and gives the flat offset
// it addresses in a tensor of shape target (indices' position with axis replaced by k).
func elementIndex(s, target []int, ax int, idx []int64, visit func(pos, off int) error) error {
	st := tensor.ContiguousStrides(target)
	pos := make([]int, len(s))
	for i, k := range idx {
		kk, err := normIndex(k, target[ax])
		if err != nil {
			return err
		}
		off := 0
		for d, p := range pos {
			if d == ax {
				p = kk
			}
			off += p * st[d]
		}
		if err := visit(i, off); err != nil {
			return err
		}
		for d := len(pos) - 1; d >= 0; d-- {
			pos[d]++
			if pos[d] < s[d] {
				break
			}
			pos[d] = 0
		}
	}
	return nil
}

func buildGather(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, intTypes...)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 0)
	b.setOut(0, b.in(0).DType, nil)
	if ds, is := b.in(0).Shape, b.in(1).Shape; ds != nil && is != nil {
		ax, err := normAxis(axis, len(ds))
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		s := append(append(append([]int{}, ds[:ax]...), is...), ds[ax+1:]...)
		b.setOut(0, b.in(0).DType, s)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		idx, err := toInts(mem, ins[1])
		if err != nil {
			return nil, err
		}
		shape := append(append(append([]int{}, x.Shape[:ax]...), ins[1].Shape...), x.Shape[ax+1:]...)
		out := tensor.New(x.DType, shape...)
		es := x.DType.Size()
		dim := x.Shape[ax]
		outer := product(x.Shape[:ax])
		inner := product(x.Shape[ax+1:]) * es
		pos := 0
		for o := 0; o < outer; o++ {
			for _, k := range idx {
				if k < 0 {
					k += int64(dim)
				}
				if k < 0 || k >= int64(dim) {
					return nil, fmt.Errorf("index %d out of range for dim %d", k, dim)
				}
				src := (o*dim + int(k)) * inner
				copy(out.Data[pos:pos+inner], x.Data[src:src+inner])
				pos += inner
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildGatherElements(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, intTypes...)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 0)
	b.setOut(0, b.in(0).DType, b.in(1).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ix := ins[0], ins[1]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil || len(ix.Shape) != len(x.Shape) {
			return nil, fmt.Errorf("indices %v for data %v (axis %d)", ix.Shape, x.Shape, axis)
		}
		idx, err := toInts(mem, ix)
		if err != nil {
			return nil, err
		}
		out := tensor.New(x.DType, ix.Shape...)
		es := x.DType.Size()
		err = elementIndex(ix.Shape, x.Shape, ax, idx, func(pos, off int) error {
			copy(out.Data[pos*es:(pos+1)*es], x.Data[off*es:(off+1)*es])
			return nil
		})
		return mem.single(out, err)
	}, nil
}

// scatterReduce combines an update into an element: none replaces, add/mul/max/min reduce.
func scatterReduce(reduction string, dst, src []byte, dt tensor.DType) {
	if reduction == "none" {
		copy(dst, src)
		return
	}
	a := (&tensor.Tensor{DType: dt, Shape: []int{1}, Data: dst}).ToF64()[0]
	v := (&tensor.Tensor{DType: dt, Shape: []int{1}, Data: src}).ToF64()[0]
	switch reduction {
	case "add":
		a += v
	case "mul":
		a *= v
	case "max":
		a = max(a, v)
	case "min":
		a = min(a, v)
	}
	r, err := castTo(&tensor.Tensor{DType: tensor.F64, Shape: []int{1}, Data: tensor.Bytes([]float64{a})}, dt)
	if err == nil {
		copy(dst, r.Data)
	}
}

func scatterReduction(b *builder) (string, error) {
	r := b.attrString("reduction", "none")
	switch r {
	case "none", "add", "mul", "max", "min":
		return r, nil
	}
	return "", b.unsupported("reduction=%q", r)
}

func buildScatterElements(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(3, 3, 1, 1), b.dtypes(1, intTypes...), b.sameDTypes(0, 2)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 0)
	red, err := scatterReduction(b)
	if err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ix, up := ins[0], ins[1], ins[2]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil || len(ix.Shape) != len(x.Shape) || !slices.Equal(ix.Shape, up.Shape) {
			return nil, fmt.Errorf("indices %v and updates %v for data %v (axis %d)", ix.Shape, up.Shape, x.Shape, axis)
		}
		idx, err := toInts(mem, ix)
		if err != nil {
			return nil, err
		}
		out := tensor.New(x.DType, x.Shape...)
		copy(out.Data, x.Data)
		es := x.DType.Size()
		err = elementIndex(ix.Shape, x.Shape, ax, idx, func(pos, off int) error {
			scatterReduce(red, out.Data[off*es:(off+1)*es], up.Data[pos*es:(pos+1)*es], x.DType)
			return nil
		})
		return mem.single(out, err)
	}, nil
}

// ndIndex resolves GatherND/ScatterND's index tuples: for each of the n tuples (of k
// coordinates into data's dims after batch), the flat element offset of its slice; slice is
// the number of elements each tuple addresses.
func ndIndex(data []int, ix *tensor.Tensor, batch int) (offs []int, n, k, slice int, err error) {
	idx, err := toInts(nil, ix)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	r := len(ix.Shape)
	if r < 1 {
		return nil, 0, 0, 0, fmt.Errorf("indices are a scalar")
	}
	k = ix.Shape[r-1]
	if batch+k > len(data) || batch > r-1 {
		return nil, 0, 0, 0, fmt.Errorf("indices %v (batch_dims %d) for data %v", ix.Shape, batch, data)
	}
	for i := 0; i < batch; i++ {
		if ix.Shape[i] != data[i] {
			return nil, 0, 0, 0, fmt.Errorf("indices %v and data %v differ in batch dim %d", ix.Shape, data, i)
		}
	}
	slice = product(data[batch+k:])
	n = product(ix.Shape[:r-1])
	perBatch := n / max(product(ix.Shape[:batch]), 1)
	batchSize := product(data[batch:])
	st := tensor.ContiguousStrides(data[batch:])
	offs = make([]int, n)
	for t := 0; t < n; t++ {
		off := (t / max(perBatch, 1)) * batchSize
		for j := 0; j < k; j++ {
			c, err := normIndex(idx[t*k+j], data[batch+j])
			if err != nil {
				return nil, 0, 0, 0, err
			}
			off += c * st[j]
		}
		offs[t] = off
	}
	return offs, n, k, slice, nil
}

func buildGatherND(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	batch := int(b.attrInt("batch_dims", 0))
	b.setOut(0, b.in(0).DType, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ix := ins[0], ins[1]
		offs, n, k, slice, err := ndIndex(x.Shape, ix, batch)
		if err != nil {
			return nil, err
		}
		shape := append(append([]int{}, ix.Shape[:len(ix.Shape)-1]...), x.Shape[batch+k:]...)
		out := tensor.New(x.DType, shape...)
		es := x.DType.Size()
		for t := 0; t < n; t++ {
			copy(out.Data[t*slice*es:(t+1)*slice*es], x.Data[offs[t]*es:(offs[t]+slice)*es])
		}
		return mem.result(out), nil
	}, nil
}

func buildScatterND(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(3, 3, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	red, err := scatterReduction(b)
	if err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ix, up := ins[0], ins[1], ins[2]
		offs, n, _, slice, err := ndIndex(x.Shape, ix, 0)
		if err != nil {
			return nil, err
		}
		if up.Numel() != n*slice || up.DType != x.DType {
			return nil, fmt.Errorf("updates %v %v for %d slices of %d", up.DType, up.Shape, n, slice)
		}
		out := tensor.New(x.DType, x.Shape...)
		copy(out.Data, x.Data)
		es := x.DType.Size()
		for t := 0; t < n; t++ {
			for e := 0; e < slice; e++ {
				d, s := (offs[t]+e)*es, (t*slice+e)*es
				scatterReduce(red, out.Data[d:d+es], up.Data[s:s+es], x.DType)
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildNonZero(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, allTypes...)); err != nil {
		return nil, err
	}
	rank := -1
	if s := b.in(0).Shape; s != nil {
		rank = len(s)
	}
	b.setOut(0, tensor.I64, []int{rank, -1})
	if rank < 0 {
		b.setOut(0, tensor.I64, nil)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		v := x.ToF64()
		var hits []int
		for i, e := range v {
			if e != 0 {
				hits = append(hits, i)
			}
		}
		r := len(x.Shape)
		out, d := newTensor[int64](tensor.I64, []int{r, len(hits)})
		st := tensor.ContiguousStrides(x.Shape)
		for j, flat := range hits {
			for k := 0; k < r; k++ {
				d[k*len(hits)+j] = int64(flat / st[k] % x.Shape[k])
			}
		}
		if r == 0 { // a scalar: shape [0, nnz]... ONNX gives [1, nnz] of zeros
			out, _ = newTensor[int64](tensor.I64, []int{1, len(hits)})
		}
		return mem.result(out), nil
	}, nil
}

func buildCompress(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, tensor.Bool)); err != nil {
		return nil, err
	}
	axisAttr, hasAxis := b.attr("axis")
	b.setOut(0, b.in(0).DType, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, c := ins[0], elems[uint8](ins[1])
		if !hasAxis {
			x = reshaped(x, []int{x.Numel()})
		}
		ax := 0
		if hasAxis {
			var err error
			if ax, err = normAxis(axisAttr.Int, len(x.Shape)); err != nil {
				return nil, err
			}
		}
		if len(c) > x.Shape[ax] {
			return nil, fmt.Errorf("condition has %d entries for a dim of %d", len(c), x.Shape[ax])
		}
		var keep []int
		for i, v := range c {
			if v != 0 {
				keep = append(keep, i)
			}
		}
		shape := append([]int{}, x.Shape...)
		shape[ax] = len(keep)
		out := tensor.New(x.DType, shape...)
		es := x.DType.Size()
		outer, inner := product(x.Shape[:ax]), product(x.Shape[ax+1:])*es
		pos := 0
		for o := 0; o < outer; o++ {
			for _, k := range keep {
				src := (o*x.Shape[ax] + k) * inner
				copy(out.Data[pos:pos+inner], x.Data[src:src+inner])
				pos += inner
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildReverseSequence(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	batchAxis, timeAxis := int(b.attrInt("batch_axis", 1)), int(b.attrInt("time_axis", 0))
	if !(batchAxis == 0 && timeAxis == 1 || batchAxis == 1 && timeAxis == 0) {
		return nil, b.errorf("batch_axis %d and time_axis %d (want 0 and 1)", batchAxis, timeAxis)
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		lens, err := toInts(mem, ins[1])
		if err != nil || len(x.Shape) < 2 || len(lens) != x.Shape[batchAxis] {
			return nil, fmt.Errorf("sequence_lens %v for input %v", ins[1].Shape, x.Shape)
		}
		out := tensor.New(x.DType, x.Shape...)
		copy(out.Data, x.Data)
		es := x.DType.Size()
		inner := product(x.Shape[2:]) * es
		st := tensor.ContiguousStrides(x.Shape[:2])
		for bi, l := range lens {
			if l < 0 || int(l) > x.Shape[timeAxis] {
				return nil, fmt.Errorf("sequence length %d out of range", l)
			}
			for t := 0; t < int(l); t++ {
				src := (bi*st[batchAxis] + t*st[timeAxis]) * inner
				dst := (bi*st[batchAxis] + (int(l)-1-t)*st[timeAxis]) * inner
				copy(out.Data[dst:dst+inner], x.Data[src:src+inner])
			}
		}
		return mem.result(out), nil
	}, nil
}
