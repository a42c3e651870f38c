package graph

import (
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// Ops that change only a value's shape return a view of their input's buffer (arena.view):
// Reshape, Flatten, Squeeze, Unsqueeze, and Identity and inference-mode Dropout, which return
// the input itself.

func init() {
	ops["Reshape"] = buildReshape
	ops["Flatten"] = buildFlatten
	ops["Squeeze"] = axesReshapeOp(squeezeShape, true)
	ops["Unsqueeze"] = axesReshapeOp(unsqueezeShape, false)
	ops["Identity"] = buildIdentity
	ops["Dropout"] = buildDropout
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
	b.setOut(0, b.in(0).DType, nil)
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

// axesFrom reads axes from input i (newer opsets) or attribute name (older ones).
func axesFrom(mem *arena, ins []*tensor.Tensor, i int, attr []int64) ([]int64, error) {
	if i < len(ins) && ins[i] != nil {
		return toInts(mem, ins[i])
	}
	return attr, nil
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
