package graph

import (
	"cmp"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// buildMaxPoolIndices is MaxPool with its second output: the flat index of each maximum in
// the input, row-major (storage_order 0) or with the last two spatial dims swapped
// (storage_order 1), over any number of spatial dims. The first maximum of a window wins.
func buildMaxPoolIndices(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 2, 2), b.dtypes(0, tensor.F32)); err != nil {
		return nil, err
	}
	pa, err := readPoolAttrs(b)
	if err != nil {
		return nil, err
	}
	colMajor := b.attrInt("storage_order", 0) != 0
	kernel := pa.kernel
	b.setOut(0, tensor.F32, nil)
	b.setOut(1, tensor.I64, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		p, err := pa.params(nil, x.Shape)
		if err != nil {
			return nil, err
		}
		shape := append([]int{x.Shape[0], x.Shape[1]}, p.out...)
		y, yd := newTensor[float32](tensor.F32, shape)
		ix, id := newTensor[int64](tensor.I64, shape)
		xv := elems[float32](x)
		sp := x.Shape[2:]
		plane, outPlane := product(sp), product(p.out)
		nd := len(sp)
		// the index strides: row-major, or the last two dims swapped for storage_order 1
		st := tensor.ContiguousStrides(sp)
		if colMajor && nd >= 2 {
			st[nd-1], st[nd-2] = sp[nd-2], 1
		}
		inSt := tensor.ContiguousStrides(sp)
		o, w := make([]int, nd), make([]int, nd)
		for c := 0; c < x.Shape[0]*x.Shape[1]; c++ {
			src := xv[c*plane : (c+1)*plane]
			for q := 0; q < outPlane; q++ {
				rest := q
				for d := nd - 1; d >= 0; d-- {
					o[d], rest = rest%p.out[d], rest/p.out[d]
				}
				best, arg := float32(math.Inf(-1)), -1
				for k := 0; k < product(kernel); k++ {
					kr, at, in, idx := k, 0, true, 0
					for d := nd - 1; d >= 0; d-- {
						w[d], kr = kr%kernel[d], kr/kernel[d]
					}
					for d := 0; d < nd; d++ {
						pos := o[d]*p.strides[d] - p.padBegin[d] + w[d]*p.dilations[d]
						if pos < 0 || pos >= sp[d] {
							in = false
							break
						}
						at += pos * inSt[d]
						idx += pos * st[d]
					}
					if in && (arg < 0 || src[at] > best) {
						best, arg = src[at], idx
					}
				}
				yd[c*outPlane+q] = best
				id[c*outPlane+q] = int64(c*plane + max(arg, 0))
			}
		}
		return []*tensor.Tensor{y, ix}, nil
	}, nil
}
