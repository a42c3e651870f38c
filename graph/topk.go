package graph

import (
	"cmp"
	"fmt"
	"sort"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["TopK"] = buildTopK
}

// buildTopK returns the k largest (or smallest) values along an axis and their int64 indices;
// equal values keep the lower index first, as ONNX specifies.
func buildTopK(b *builder) (kernel, error) {
	attrK, hasK := b.attr("k") // opset < 10: k is an attribute
	if err := b.arity(1, 2, 2, 2); err != nil {
		return nil, err
	}
	if !hasK && !b.has(1) {
		return nil, b.errorf("needs K (an input from opset 10, the attribute k before)")
	}
	if err := cmp.Or(b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", -1)
	largest := b.attrInt("largest", 1) != 0
	// With sorted=0 the output order is implementation-defined, so sorted output is valid too.
	b.ignoreAttrs("sorted")
	b.setOut(0, b.in(0).DType, nil)
	b.setOut(1, tensor.I64, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		ks := []int64{attrK.Int}
		if len(ins) > 1 && ins[1] != nil {
			var err error
			if ks, err = toInts(mem, ins[1]); err != nil || len(ks) != 1 {
				return nil, fmt.Errorf("K must be one int64, got %v", ins[1].Shape)
			}
		}
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		n := x.Shape[ax]
		k := int(ks[0])
		if k < 0 || k > n {
			return nil, fmt.Errorf("K=%d for an axis of %d", k, n)
		}
		outer, inner := product(x.Shape[:ax]), product(x.Shape[ax+1:])
		shape := append([]int{}, x.Shape...)
		shape[ax] = k
		xs := x.ToF64()
		vals := make([]float64, outer*k*inner)
		idxT, idx := newTensor[int64](tensor.I64, shape)
		order := make([]int, n)
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				at := func(j int) float64 { return xs[(o*n+j)*inner+in] }
				for j := range order {
					order[j] = j
				}
				sort.SliceStable(order, func(p, q int) bool {
					if largest {
						return at(order[p]) > at(order[q])
					}
					return at(order[p]) < at(order[q])
				})
				for j := 0; j < k; j++ {
					pos := (o*k+j)*inner + in
					vals[pos] = at(order[j])
					idx[pos] = int64(order[j])
				}
			}
		}
		v := &tensor.Tensor{DType: tensor.F64, Shape: shape, Data: tensor.Bytes(vals)}
		out, err := castTo(v, x.DType)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{out, idxT}, nil
	}, nil
}
