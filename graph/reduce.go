package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	for _, op := range []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		ops[op] = reduceOp(op)
	}
	ops["ArgMax"] = argOp(true)
	ops["ArgMin"] = argOp(false)
}

// axesAsInput reports whether op takes its axes as an input at this opset (ReduceSum from 13,
// the other reductions from 18) rather than as an attribute.
func axesAsInput(op string, opset int) bool {
	if op == "ReduceSum" {
		return opset >= 13
	}
	return opset >= 18
}

func reduceOp(op string) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 2, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32)); err != nil {
			return nil, err
		}
		if len(b.n.Inputs) > 1 && !axesAsInput(op, b.opset) {
			return nil, b.errorf("axes input before opset %d", map[bool]int{true: 13, false: 18}[op == "ReduceSum"])
		}
		attrAxes, _ := b.attrInts("axes")
		keep := b.attrInt("keepdims", 1) != 0
		noop := b.attrInt("noop_with_empty_axes", 0) != 0
		b.setOut(0, b.in(0).DType, nil)
		if s := b.in(0).Shape; s != nil && (!b.has(1) || b.constIn(1) != nil) {
			axes := attrAxes
			if c := b.constIn(1); c != nil {
				axes, _ = toInts(nil, c)
			}
			mask, err := reduceMask(len(s), axes, noop)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, b.in(0).DType, reducedShape(s, mask, keep))
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			axes, err := axesFrom(mem, ins, 1, attrAxes)
			if err != nil {
				return nil, err
			}
			x := ins[0]
			mask, err := reduceMask(len(x.Shape), axes, noop)
			if err != nil {
				return nil, err
			}
			return mem.single(reduce(mem, op, x, mask, keep))
		}, nil
	}
}

// reduceMask marks the reduced dims; empty axes reduce all dims unless noop is set.
func reduceMask(rank int, axes []int64, noop bool) ([]bool, error) {
	mask := make([]bool, rank)
	if len(axes) == 0 {
		if !noop {
			for i := range mask {
				mask[i] = true
			}
		}
		return mask, nil
	}
	for _, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		mask[ax] = true
	}
	return mask, nil
}

func reducedShape(s []int, mask []bool, keep bool) []int {
	out := []int{}
	for i, d := range s {
		switch {
		case !mask[i]:
			out = append(out, d)
		case keep:
			out = append(out, 1)
		}
	}
	return out
}

// reduce accumulates in float64 over the masked dims and converts back to x's dtype.
func reduce(mem *arena, op string, x *tensor.Tensor, mask []bool, keep bool) (*tensor.Tensor, error) {
	if out := sumTrailing(mem, op, x, mask, keep); out != nil {
		return out, nil
	}
	keptShape := reducedShape(x.Shape, mask, true)
	n := product(keptShape)
	acc := make([]float64, n)
	init := 0.0
	switch op {
	case "ReduceMax":
		init = math.Inf(-1)
	case "ReduceMin":
		init = math.Inf(1)
	case "ReduceProd":
		init = 1
	}
	for i := range acc {
		acc[i] = init
	}
	xs := x.ToF64()
	if len(xs) > 0 {
		ost := broadcastStridesIn(nil, keptShape, x.Shape)
		for i, m := range mask {
			if m {
				ost[i] = 0
			}
		}
		p := planRows(mem, x.Shape, ost)
		inner, ls := p.inner, p.last[0]
		p.serial(mem, func(o int, offs []int) {
			a := offs[0]
			for _, v := range xs[o : o+inner] {
				switch op {
				case "ReduceMax":
					if v > acc[a] || v != v {
						acc[a] = v
					}
				case "ReduceMin":
					if v < acc[a] || v != v {
						acc[a] = v
					}
				case "ReduceProd":
					acc[a] *= v
				case "ReduceL1":
					acc[a] += math.Abs(v)
				case "ReduceL2", "ReduceSumSquare":
					acc[a] += v * v
				case "ReduceLogSumExp":
					acc[a] += math.Exp(v)
				default:
					acc[a] += v
				}
				a += ls
			}
		})
	}
	finishReduce(op, acc, x.Shape, mask)
	out := &tensor.Tensor{DType: tensor.F64, Shape: reducedShape(x.Shape, mask, keep), Data: tensor.Bytes(acc)}
	if x.DType == tensor.F64 {
		return out, nil
	}
	if x.DType.IsFloat() {
		return out.To(x.DType)
	}
	return castTo(out, x.DType)
}

// finishReduce turns the accumulated sums in acc into the op's results: the mean over
// the reduced axes of shape, the root, the logarithm.
func finishReduce(op string, acc []float64, shape []int, mask []bool) {
	count := 1
	for i, m := range mask {
		if m {
			count *= shape[i]
		}
	}
	for i, v := range acc {
		switch op {
		case "ReduceMean":
			acc[i] = v / float64(count)
		case "ReduceL2":
			acc[i] = math.Sqrt(v)
		case "ReduceLogSum", "ReduceLogSumExp":
			acc[i] = math.Log(v)
		}
	}
}

func argOp(isMax bool) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32)); err != nil {
			return nil, err
		}
		axis := b.attrInt("axis", 0)
		keep := b.attrInt("keepdims", 1) != 0
		last := b.attrInt("select_last_index", 0) != 0
		b.setOut(0, tensor.I64, nil)
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := ins[0]
			ax, err := normAxis(axis, len(x.Shape))
			if err != nil {
				return nil, err
			}
			mask := make([]bool, len(x.Shape))
			mask[ax] = true
			outer, n, inner := product(x.Shape[:ax]), x.Shape[ax], product(x.Shape[ax+1:])
			if n == 0 {
				return nil, fmt.Errorf("arg over an empty axis")
			}
			out, d := newTensor[int64](tensor.I64, reducedShape(x.Shape, mask, keep))
			xs := x.ToF64()
			for o := 0; o < outer; o++ {
				for in := 0; in < inner; in++ {
					best, bi := xs[o*n*inner+in], 0
					for j := 1; j < n; j++ {
						v := xs[(o*n+j)*inner+in]
						better := v > best || (last && v == best)
						if !isMax {
							better = v < best || (last && v == best)
						}
						if better {
							best, bi = v, j
						}
					}
					d[o*inner+in] = int64(bi)
				}
			}
			return mem.result(out), nil
		}, nil
	}
}

// sumTrailing is reduce for ReduceSum and ReduceMean of float32 over trailing dims (LayerNorm
// decomposed by exporters): each output sums one contiguous row in float64, in the order
// reduce's general loop would, so the results are the same bits. It returns nil for any
// other reduction.
func sumTrailing(mem *arena, op string, x *tensor.Tensor, mask []bool, keep bool) *tensor.Tensor {
	if x.DType != tensor.F32 || (op != "ReduceSum" && op != "ReduceMean") {
		return nil
	}
	r0 := len(mask)
	for r0 > 0 && (mask[r0-1] || x.Shape[r0-1] == 1) {
		r0--
	}
	for i := 0; i < r0; i++ {
		if mask[i] && x.Shape[i] != 1 {
			return nil
		}
	}
	inner := product(x.Shape[r0:])
	if inner == 0 || product(x.Shape) == 0 {
		return nil // empty reductions keep the general path's 0 and NaN
	}
	out, d := newTensorIn[float32](mem, tensor.F32, reducedShape(x.Shape, mask, keep), false)
	xv := elems[float32](x)
	forRange(mem, len(d), len(xv), sumRowsArgs{d: d, xv: xv, inner: inner, mean: op == "ReduceMean"}, sumRowsArgs.run)
	return out
}

// sumRowsArgs is sumTrailing's work, run over a range of rows.
type sumRowsArgs struct {
	d, xv []float32
	inner int
	mean  bool
}

func (a sumRowsArgs) run(lo, hi int) {
	for r := lo; r < hi; r++ {
		var sum float64
		for _, v := range a.xv[r*a.inner : (r+1)*a.inner] {
			sum += float64(v)
		}
		if a.mean {
			sum /= float64(a.inner)
		}
		a.d[r] = float32(sum)
	}
}
