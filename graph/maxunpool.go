package graph

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// MaxUnpool scatters each value of X to the flat position MaxPool's Indices output gave it,
// in a zero tensor of the pooled input's shape: output_shape when given, else
// (in - 1) * stride + kernel - pads per spatial dim.

func init() { ops["MaxUnpool"] = buildMaxUnpool }

func buildMaxUnpool(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypes(0, tensor.F32), b.dtypes(1, tensor.I64), b.dtypes(2, tensor.I64)); err != nil {
		return nil, err
	}
	k64, ok := b.attrInts("kernel_shape")
	if !ok {
		return nil, b.errorf("missing kernel_shape")
	}
	strides, _ := b.attrInts("strides")
	pads, _ := b.attrInts("pads")
	b.setOut(0, tensor.F32, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, ix := ins[0], ins[1]
		nd := len(x.Shape) - 2
		if nd != len(k64) || !slices.Equal(x.Shape, ix.Shape) {
			return nil, fmt.Errorf("X %v and I %v for kernel %v", x.Shape, ix.Shape, k64)
		}
		// The indices address the pooled input's shape, inferred from the attributes; an
		// output_shape that differs places each value at the same coordinates in it.
		inferred := append([]int{}, x.Shape...)
		for i := 0; i < nd; i++ {
			st, pb, pe := 1, 0, 0
			if strides != nil {
				st = int(strides[i])
			}
			if pads != nil {
				pb, pe = int(pads[i]), int(pads[i+nd])
			}
			inferred[2+i] = (x.Shape[2+i]-1)*st + int(k64[i]) - pb - pe
		}
		shape := inferred
		if len(ins) > 2 && ins[2] != nil {
			s, err := toInts(mem, ins[2])
			if err != nil || len(s) != len(shape) {
				return nil, fmt.Errorf("output_shape %v for a rank-%d input", ins[2].Shape, len(shape))
			}
			shape = make([]int, len(s))
			for i, d := range s {
				if d < 0 || i < 2 && int(d) != x.Shape[i] || i >= 2 && int(d) < inferred[i] {
					return nil, fmt.Errorf("output_shape %v is smaller than the unpooled shape %v", s, inferred)
				}
				shape[i] = int(d)
			}
		}
		if err := checkOutputSize(shape); err != nil {
			return nil, err
		}
		out, d := newTensor[float32](tensor.F32, shape)
		xv, iv := elems[float32](x), elems[int64](ix)
		from, to := tensor.ContiguousStrides(inferred), tensor.ContiguousStrides(shape)
		total := product(inferred)
		for i, v := range xv {
			k := iv[i]
			if k < 0 || k >= int64(total) {
				return nil, fmt.Errorf("index %d out of range for the unpooled shape %v", k, inferred)
			}
			at, rest := 0, int(k)
			for dim := range from {
				at += rest / from[dim] * to[dim]
				rest %= from[dim]
			}
			d[at] = v
		}
		return mem.result(out), nil
	}, nil
}
