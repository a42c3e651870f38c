package graph

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Reshape"] = buildReshape
	ops["Flatten"] = buildFlatten
	ops["Transpose"] = buildTranspose
	ops["Concat"] = buildConcat
	ops["Split"] = buildSplit
	ops["Slice"] = buildSlice
	ops["Gather"] = buildGather
	ops["Squeeze"] = axesReshapeOp(squeezeShape, true)
	ops["Unsqueeze"] = axesReshapeOp(unsqueezeShape, false)
	ops["Shape"] = buildShape
	ops["Size"] = buildSize
	ops["Constant"] = buildConstant
	ops["ConstantOfShape"] = buildConstantOfShape
	ops["Cast"] = buildCast
	ops["Expand"] = buildExpand
	ops["Identity"] = buildIdentity
	ops["Dropout"] = buildDropout
	ops["Range"] = buildRange
	ops["Tile"] = buildTile
}

// single turns a one-output kernel's (tensor, error) into a kernel's results.
func (a *arena) single(t *tensor.Tensor, err error) ([]*tensor.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return a.result(t), nil
}

// axesFrom reads axes from input i (newer opsets) or attribute name (older ones).
func axesFrom(mem *arena, ins []*tensor.Tensor, i int, attr []int64) ([]int64, error) {
	if i < len(ins) && ins[i] != nil {
		return toInts(mem, ins[i])
	}
	return attr, nil
}

func buildReshape(b *builder) (kernel, error) {
	if err := b.arity(1, 2, 1, 1); err != nil {
		return nil, err
	}
	allowZero := b.attrInt("allowzero", 0) != 0
	attrShape, hasAttrShape := b.attrInts("shape") // opset 1-4 form
	if !b.has(1) && !hasAttrShape {
		return nil, b.errorf("needs a shape input")
	}
	if err := b.dtypes(1, tensor.I64); err != nil {
		return nil, err
	}
	if c := b.constIn(1); c != nil || hasAttrShape {
		spec := attrShape
		if c != nil {
			spec, _ = toInts(nil, c)
		}
		if in := b.in(0).Shape; in != nil && !containsNeg(in) {
			s, err := reshapeTarget(in, spec, allowZero)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, b.in(0).DType, s)
		} else {
			s := make([]int, len(spec))
			for i, d := range spec {
				s[i] = int(d)
				if d <= 0 {
					s[i] = -1
				}
			}
			b.setOut(0, b.in(0).DType, s)
		}
	} else {
		b.setOut(0, b.in(0).DType, nil)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		spec := attrShape
		if len(ins) > 1 && ins[1] != nil {
			var err error
			if spec, err = toInts(mem, ins[1]); err != nil {
				return nil, err
			}
		}
		s, err := reshapeTarget(ins[0].Shape, spec, allowZero)
		if err != nil {
			return nil, err
		}
		return mem.result(mem.view(ins[0], s)), nil
	}, nil
}

func containsNeg(s []int) bool {
	for _, d := range s {
		if d < 0 {
			return true
		}
	}
	return false
}

// reshapeTarget resolves a Reshape spec: 0 copies the input dim (unless allowzero), -1 takes
// what is left.
func reshapeTarget(in []int, spec []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("reshape %v: more than one -1", spec)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("reshape %v of %v: 0 at dim %d copies no input dim", spec, in, i)
			}
			out[i] = in[i]
		case d < 0:
			return nil, fmt.Errorf("reshape %v: negative dim %d", spec, d)
		default:
			out[i] = int(d)
		}
		known *= out[i]
	}
	total := product(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v into %v", in, spec)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) into %v", in, total, spec)
	}
	return out, nil
}

func buildFlatten(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 1)
	flat := func(mem *arena, s []int) ([]int, error) {
		a := int(axis)
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a > len(s) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axis, len(s))
		}
		o := mem.ints(2)
		o[0], o[1] = product(s[:a]), product(s[a:])
		return o, nil
	}
	b.setOut(0, b.in(0).DType, []int{-1, -1})
	if s := b.in(0).Shape; s != nil {
		a := int(axis)
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a > len(s) {
			return nil, b.errorf("axis %d out of range for rank %d", axis, len(s))
		}
		part := func(dims []int) int {
			if containsNeg(dims) {
				return -1
			}
			return product(dims)
		}
		b.setOut(0, b.in(0).DType, []int{part(s[:a]), part(s[a:])})
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		o, err := flat(mem, ins[0].Shape)
		if err != nil {
			return nil, err
		}
		return mem.result(mem.view(ins[0], o)), nil
	}, nil
}

func buildIdentity(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.result(ins[0]), nil
	}, nil
}

// buildDropout is the inference form: the output is the input, the mask all true.
func buildDropout(b *builder) (kernel, error) {
	if err := b.arity(1, 3, 1, 2); err != nil {
		return nil, err
	}
	b.ignoreAttrs("seed", "ratio")
	if b.has(2) {
		c := b.constIn(2)
		if c == nil {
			return nil, b.unsupported("training_mode that is not a constant (only inference is supported)")
		}
		if c.Numel() != 1 || c.DType != tensor.Bool {
			return nil, b.errorf("training_mode must be one bool")
		}
		if elems[uint8](c)[0] != 0 {
			return nil, b.unsupported("training_mode=true (only inference is supported)")
		}
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	b.setOut(1, tensor.Bool, b.in(0).Shape)
	mask := len(b.n.Outputs) > 1 && b.n.Outputs[1] != ""
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if !mask {
			return mem.result(ins[0]), nil
		}
		m, d := newTensor[uint8](tensor.Bool, ins[0].Shape)
		for i := range d {
			d[i] = 1
		}
		return []*tensor.Tensor{ins[0], m}, nil
	}, nil
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
	} else {
		b.setOut(0, b.in(0).DType, nil)
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
	switch x.DType.Size() {
	case 1:
		return transposeT[uint8](mem, x, perm)
	case 2:
		return transposeT[uint16](mem, x, perm)
	case 4:
		return transposeT[uint32](mem, x, perm)
	default:
		return transposeT[uint64](mem, x, perm)
	}
}

func transposeT[W word](mem *arena, x *tensor.Tensor, perm []int) *tensor.Tensor {
	in := contiguousStridesIn(mem, x.Shape)
	shape := mem.ints(len(perm))
	strides := mem.ints(len(perm))
	for i, a := range perm {
		shape[i], strides[i] = x.Shape[a], in[a]
	}
	out, d := newTensorIn[W](mem, x.DType, shape, false)
	gatherStrided(mem, d, elems[W](x), shape, strides, 0)
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
	attrSplit, hasAttrSplit := b.attrInts("split")
	numOutputs := b.attrInt("num_outputs", 0)
	nOut := len(b.n.Outputs)
	if numOutputs != 0 && int(numOutputs) != nOut {
		return nil, b.errorf("num_outputs=%d but the node has %d outputs", numOutputs, nOut)
	}
	for i := range b.n.Outputs {
		b.setOut(i, b.in(0).DType, nil)
	}
	sizes := func(ins []*tensor.Tensor, dim int) ([]int, error) {
		var spec []int64
		switch {
		case len(ins) > 1 && ins[1] != nil:
			var err error
			if spec, err = toInts(nil, ins[1]); err != nil {
				return nil, err
			}
		case hasAttrSplit:
			spec = attrSplit
		}
		out := make([]int, nOut)
		if spec == nil {
			chunk := (dim + nOut - 1) / nOut
			if numOutputs == 0 && dim%nOut != 0 {
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
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		parts, err := sizes(ins, x.Shape[ax])
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
	for i := 1; i < 5; i++ {
		if err := b.dtypes(i, intTypes...); err != nil {
			return nil, err
		}
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
	switch x.DType.Size() {
	case 1:
		return sliceT[uint8](mem, x, shape, strides, base), nil
	case 2:
		return sliceT[uint16](mem, x, shape, strides, base), nil
	case 4:
		return sliceT[uint32](mem, x, shape, strides, base), nil
	default:
		return sliceT[uint64](mem, x, shape, strides, base), nil
	}
}

func sliceT[W word](mem *arena, x *tensor.Tensor, shape, strides []int, base int) *tensor.Tensor {
	out, d := newTensorIn[W](mem, x.DType, shape, false)
	gatherStrided(mem, d, elems[W](x), shape, strides, base)
	return out
}

func clamp64(v, lo, hi int64) int64 {
	return max(lo, min(hi, v))
}

func buildGather(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(1, intTypes...); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 0)
	if ds, is := b.in(0).Shape, b.in(1).Shape; ds != nil && is != nil {
		ax, err := normAxis(axis, len(ds))
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		s := append(append(append([]int{}, ds[:ax]...), is...), ds[ax+1:]...)
		b.setOut(0, b.in(0).DType, s)
	} else {
		b.setOut(0, b.in(0).DType, nil)
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

// squeezeShape drops the given dims of s (every dim of size 1 when axes is empty).
func squeezeShape(s []int, axes []int64) ([]int, error) {
	drop := make([]bool, len(s))
	if len(axes) == 0 {
		for i, d := range s {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return nil, err
		}
		if s[ax] != 1 && s[ax] != -1 {
			return nil, fmt.Errorf("cannot squeeze dim %d of shape %v", ax, s)
		}
		drop[ax] = true
	}
	out := []int{}
	for i, d := range s {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// unsqueezeShape inserts dims of size 1 at the given axes of the output.
func unsqueezeShape(s []int, axes []int64) ([]int, error) {
	rank := len(s) + len(axes)
	ins := make([]bool, rank)
	for _, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if ins[ax] {
			return nil, fmt.Errorf("axis %d repeated", a)
		}
		ins[ax] = true
	}
	out := make([]int, rank)
	j := 0
	for i := range out {
		if ins[i] {
			out[i] = 1
		} else {
			out[i] = s[j]
			j++
		}
	}
	return out, nil
}

// axesReshapeOp builds Squeeze and Unsqueeze: views whose shape follows from the input shape
// and axes (an attribute before opset 13, an optional input from 13 on). axesOptional says
// that no axes at all has a meaning (Squeeze then drops every dim of size 1, which needs
// every dim known at load time).
func axesReshapeOp(newShape func(s []int, axes []int64) ([]int, error), axesOptional bool) opDef {
	return func(b *builder) (kernel, error) {
		if err := b.arity(1, 2, 1, 1); err != nil {
			return nil, err
		}
		attrAxes, _ := b.attrInts("axes")
		b.setOut(0, b.in(0).DType, nil)
		axes := attrAxes
		if b.has(1) {
			axes = nil
			if c := b.constIn(1); c != nil {
				axes, _ = toInts(nil, c)
			}
		}
		known := !b.has(1) || b.constIn(1) != nil
		if s := b.in(0).Shape; s != nil && known && (axes != nil || axesOptional && !containsNeg(s)) {
			o, err := newShape(s, axes)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, b.in(0).DType, o)
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			axes, err := axesFrom(mem, ins, 1, attrAxes)
			if err != nil {
				return nil, err
			}
			s, err := newShape(ins[0].Shape, axes)
			if err != nil {
				return nil, err
			}
			return mem.result(mem.view(ins[0], s)), nil
		}, nil
	}
}

func buildShape(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	start, end := b.attrInt("start", 0), b.attrInt("end", math.MaxInt32)
	bounds := func(rank int) (int, int) {
		s, e := int(start), int(min(end, int64(rank)))
		if s < 0 {
			s += rank
		}
		if e < 0 {
			e += rank
		}
		s, e = max(0, min(s, rank)), max(0, min(e, rank))
		return s, max(s, e)
	}
	b.setOut(0, tensor.I64, []int{-1})
	if s := b.in(0).Shape; s != nil {
		lo, hi := bounds(len(s))
		b.setOut(0, tensor.I64, []int{hi - lo})
		if !containsNeg(s[lo:hi]) {
			v := make([]int64, hi-lo)
			for i, d := range s[lo:hi] {
				v[i] = int64(d)
			}
			b.outConst(0, intsTensor(nil, v))
		}
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := ins[0].Shape
		lo, hi := bounds(len(s))
		v := make([]int64, hi-lo)
		for i, d := range s[lo:hi] {
			v[i] = int64(d)
		}
		return mem.result(intsTensor(mem, v)), nil
	}, nil
}

func buildSize(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.I64, []int{})
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		t, d := newTensor[int64](tensor.I64, []int{})
		d[0] = int64(ins[0].Numel())
		return mem.result(t), nil
	}, nil
}

func buildConstant(b *builder) (kernel, error) {
	if err := b.arity(0, 0, 1, 1); err != nil {
		return nil, err
	}
	var value *tensor.Tensor
	count := 0
	for name, a := range b.n.Attrs {
		b.used[name] = true
		count++
		switch name {
		case "value":
			value = a.Tensor
		case "value_float":
			value = tensor.FromF32([]int{}, []float32{a.Float})
		case "value_floats":
			value = tensor.FromF32([]int{len(a.Floats)}, append([]float32{}, a.Floats...))
		case "value_int":
			value = intsTensor(nil, []int64{a.Int})
			value.Shape = []int{}
		case "value_ints":
			value = intsTensor(nil, a.Ints)
		default:
			return nil, b.unsupported("attribute %q", name)
		}
		if a.Type == onnxpb.AttributeProto_TENSOR && value == nil {
			return nil, b.errorf("attribute %q has no tensor", name)
		}
	}
	if count != 1 || value == nil {
		return nil, b.errorf("needs exactly one value attribute")
	}
	b.outConst(0, value)
	return func(mem *arena, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.result(value), nil
	}, nil
}

func buildConstantOfShape(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.I64); err != nil {
		return nil, err
	}
	value := tensor.FromF32([]int{1}, []float32{0})
	if a, ok := b.attr("value"); ok {
		if a.Tensor == nil || a.Tensor.Numel() != 1 {
			return nil, b.errorf("value must hold one element")
		}
		value = a.Tensor
	}
	b.setOut(0, value.DType, nil)
	if c := b.constIn(0); c != nil {
		s, _ := toInts(nil, c)
		shape := make([]int, len(s))
		for i, d := range s {
			shape[i] = int(d)
		}
		b.setOut(0, value.DType, shape)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s, err := toInts(mem, ins[0])
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(s))
		for i, d := range s {
			if d < 0 {
				return nil, fmt.Errorf("negative dim in shape %v", s)
			}
			shape[i] = int(d)
		}
		if err := checkOutputSize(shape); err != nil {
			return nil, err
		}
		out := tensor.New(value.DType, shape...)
		es := value.DType.Size()
		for i := 0; i < len(out.Data); i += es {
			copy(out.Data[i:i+es], value.Data[:es])
		}
		return mem.result(out), nil
	}, nil
}

func buildCast(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, allTypes...); err != nil {
		return nil, err
	}
	b.ignoreAttrs("saturate")
	to := b.attrInt("to", 0)
	dt, ok := computeDType(int32(to))
	if !ok {
		return nil, b.unsupported("cast to %s", onnx.DataTypeName(int32(to)))
	}
	if isHalf(dt) { // computed in float32, rounded to what the 16-bit type holds
		b.setOut(0, tensor.F32, b.in(0).Shape)
		b.out[0].ModelDType = dt
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x, err := castTo(ins[0], tensor.F32)
			if err != nil {
				return nil, err
			}
			return mem.single(roundHalf(x, dt))
		}, nil
	}
	b.setOut(0, dt, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.single(castTo(ins[0], dt))
	}, nil
}

// castTo converts like ONNX Cast: floats to integers truncate toward zero, anything to bool
// tests for non-zero, floats to narrower floats round to nearest even.
func castTo(x *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if x.DType == dt {
		return x, nil
	}
	if dt == tensor.Bool {
		out, d := newTensor[uint8](tensor.Bool, x.Shape)
		for i, v := range x.ToF64() {
			if v != 0 {
				d[i] = 1
			}
		}
		return out, nil
	}
	if dt.IsFloat() {
		return x.To(dt)
	}
	var vals []int64
	if x.DType == tensor.I64 {
		vals = elems[int64](x)
	} else {
		f := x.ToF64()
		vals = make([]int64, len(f))
		for i, v := range f {
			if !math.IsNaN(v) {
				vals[i] = int64(math.Trunc(v))
			}
		}
	}
	out := tensor.New(dt, x.Shape...)
	switch dt {
	case tensor.I64:
		copy(elems[int64](out), vals)
	case tensor.I32:
		narrow(elems[int32](out), vals)
	case tensor.I16:
		narrow(elems[int16](out), vals)
	case tensor.I8:
		narrow(elems[int8](out), vals)
	case tensor.U8:
		narrow(elems[uint8](out), vals)
	default:
		return nil, fmt.Errorf("cast to %v is not supported", dt)
	}
	return out, nil
}

func narrow[T int32 | int16 | int8 | uint8](d []T, v []int64) {
	for i, x := range v {
		d[i] = T(x)
	}
}

func buildExpand(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(1, tensor.I64); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, nil)
	if c := b.constIn(1); c != nil && b.in(0).Shape != nil {
		s, _ := toInts(nil, c)
		shape := make([]int, len(s))
		for i, d := range s {
			shape[i] = int(d)
		}
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
		shape := make([]int, len(s))
		for i, d := range s {
			shape[i] = int(d)
		}
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
	st := broadcastStridesIn(nil, x.Shape, shape)
	switch x.DType.Size() {
	case 1:
		return sliceT[uint8](nil, x, shape, st, 0)
	case 2:
		return sliceT[uint16](nil, x, shape, st, 0)
	case 4:
		return sliceT[uint32](nil, x, shape, st, 0)
	default:
		return sliceT[uint64](nil, x, shape, st, 0)
	}
}

func buildTile(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(1, tensor.I64); err != nil {
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

func buildRange(b *builder) (kernel, error) {
	if err := b.arity(3, 3, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I16); err != nil {
		return nil, err
	}
	if err := b.sameDTypes(0, 1, 2); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, []int{-1})
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		start, limit, delta := ins[0].ToF64()[0], ins[1].ToF64()[0], ins[2].ToF64()[0]
		if delta == 0 {
			return nil, fmt.Errorf("delta is 0")
		}
		n := int(max(math.Ceil((limit-start)/delta), 0))
		if err := checkOutputSize([]int{n}); err != nil {
			return nil, err
		}
		switch ins[0].DType {
		case tensor.F32:
			out, d := newTensor[float32](tensor.F32, []int{n})
			s, dl := elems[float32](ins[0])[0], elems[float32](ins[2])[0]
			for i := range d {
				d[i] = s + float32(i)*dl
			}
			return mem.result(out), nil
		case tensor.I64:
			out, d := newTensor[int64](tensor.I64, []int{n})
			s, dl := elems[int64](ins[0])[0], elems[int64](ins[2])[0]
			for i := range d {
				d[i] = s + int64(i)*dl
			}
			return mem.result(out), nil
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = start + float64(i)*delta
		}
		out := &tensor.Tensor{DType: tensor.F64, Shape: []int{n}, Data: tensor.Bytes(v)}
		return mem.single(out.To(ins[0].DType))
	}, nil
}
