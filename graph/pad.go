package graph

import (
	"cmp"
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Pad"] = buildPad
}

func buildPad(b *builder) (kernel, error) {
	if err := b.arity(1, 4, 1, 1); err != nil {
		return nil, err
	}
	mode := b.attrString("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge":
	default:
		return nil, b.unsupported("mode=%q", mode)
	}
	attrPads, hasAttrPads := b.attrInts("pads") // opset < 11
	attrValue := b.attrFloat("value", 0)
	if !hasAttrPads && !b.has(1) {
		return nil, b.errorf("needs pads")
	}
	if err := cmp.Or(b.dtypes(1, tensor.I64), b.sameDTypes(0, 2)); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, nil)
	if s := b.in(0).Shape; s != nil {
		unknown := make([]int, len(s))
		for i := range unknown {
			unknown[i] = -1
		}
		b.setOut(0, b.in(0).DType, unknown)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		rank := len(x.Shape)
		pads := attrPads
		var err error
		if len(ins) > 1 && ins[1] != nil {
			if pads, err = toInts(mem, ins[1]); err != nil {
				return nil, err
			}
		}
		// Opset 18 axes: pads lists begins then ends for the named axes only.
		if len(ins) > 3 && ins[3] != nil {
			axes, err := toInts(mem, ins[3])
			if err != nil {
				return nil, err
			}
			if len(pads) != 2*len(axes) {
				return nil, fmt.Errorf("pads %v for axes %v", pads, axes)
			}
			full := make([]int64, 2*rank)
			for i, a := range axes {
				ax, err := normAxis(a, rank)
				if err != nil {
					return nil, err
				}
				full[ax], full[ax+rank] = pads[i], pads[i+len(axes)]
			}
			pads = full
		}
		if len(pads) != 2*rank {
			return nil, fmt.Errorf("pads %v for rank %d", pads, rank)
		}
		fill := tensor.FromF32To(x.DType, []int{}, []float32{attrValue})
		if len(ins) > 2 && ins[2] != nil {
			if ins[2].DType != x.DType || ins[2].Numel() != 1 {
				return nil, fmt.Errorf("constant_value %v %v for %v data", ins[2].DType, ins[2].Shape, x.DType)
			}
			fill = ins[2]
		}
		return mem.single(pad(x, pads, mode, fill))
	}, nil
}

// pad maps each output index, dim by dim, to a source index (or -1 for the constant).
func pad(x *tensor.Tensor, pads []int64, mode string, fill *tensor.Tensor) (*tensor.Tensor, error) {
	rank := len(x.Shape)
	shape := make([]int, rank)
	maps := make([][]int, rank)
	for d := 0; d < rank; d++ {
		begin, end, n := int(pads[d]), int(pads[d+rank]), x.Shape[d]
		shape[d] = n + begin + end
		if shape[d] < 0 {
			return nil, fmt.Errorf("pads %v shrink dim %d below zero", pads, d)
		}
		if mode != "constant" && n == 0 && shape[d] > 0 {
			return nil, fmt.Errorf("%s padding of an empty dim", mode)
		}
		if mode == "reflect" && (begin >= n || end >= n) && n > 0 && (begin > 0 || end > 0) && n == 1 {
			return nil, fmt.Errorf("reflect padding of a dim of size 1")
		}
		m := make([]int, shape[d])
		for o := range m {
			i := o - begin
			switch {
			case i >= 0 && i < n:
			case mode == "constant":
				i = -1
			case mode == "edge":
				i = max(0, min(n-1, i))
			default: // reflect, possibly bouncing more than once
				period := 2 * (n - 1)
				i = ((i % period) + period) % period
				if i >= n {
					i = period - i
				}
			}
			m[o] = i
		}
		maps[d] = m
	}
	if err := checkOutputSize(shape); err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, shape...)
	es := x.DType.Size()
	st := tensor.ContiguousStrides(x.Shape)
	fv := fill.Data[:es]
	forEachIndex(shape, func(o int, idx []int) {
		src := 0
		for d, i := range idx {
			s := maps[d][i]
			if s < 0 {
				copy(out.Data[o*es:(o+1)*es], fv)
				return
			}
			src += s * st[d]
		}
		copy(out.Data[o*es:(o+1)*es], x.Data[src*es:(src+1)*es])
	})
	return out, nil
}
