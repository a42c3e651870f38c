package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["QuantizeLinear"] = buildQuantize
	ops["DequantizeLinear"] = buildDequantize
}

// qaxis resolves the per-axis parameters of a Q/DQ node: it returns the number of channels
// and the inner size, or (1, n) for per-tensor parameters.
func qaxis(x *tensor.Tensor, scale *tensor.Tensor, axis int64) (channels, inner int, err error) {
	if scale.Numel() == 1 && len(scale.Shape) <= 1 {
		return 1, x.Numel(), nil
	}
	if len(scale.Shape) != 1 {
		return 0, 0, fmt.Errorf("scale %v must be a scalar or 1-D", scale.Shape)
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return 0, 0, err
	}
	if scale.Shape[0] != x.Shape[ax] {
		return 0, 0, fmt.Errorf("scale %v for axis %d of %v", scale.Shape, ax, x.Shape)
	}
	return x.Shape[ax], product(x.Shape[ax+1:]), nil
}

func buildQuantize(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypes(0, tensor.F32), b.dtypes(1, tensor.F32), b.dtypes(2, tensor.U8, tensor.I8)); err != nil {
		return nil, err
	}
	b.ignoreAttrs("saturate")
	axis := b.attrInt("axis", 1)
	outDT := tensor.U8
	if b.has(2) && b.in(2).DType != tensor.Invalid {
		outDT = b.in(2).DType
	}
	b.setOut(0, outDT, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, scale := ins[0], ins[1]
		zp := tensor.New(tensor.U8, scale.Shape...)
		if len(ins) > 2 && ins[2] != nil {
			zp = ins[2]
		}
		if zp.Numel() != scale.Numel() {
			return nil, fmt.Errorf("zero point %v and scale %v differ", zp.Shape, scale.Shape)
		}
		ch, inner, err := qaxis(x, scale, axis)
		if err != nil {
			return nil, err
		}
		lo, hi := 0.0, 255.0
		if zp.DType == tensor.I8 {
			lo, hi = -128, 127
		}
		zps := zp.ToF64()
		sc := elems[float32](scale)
		xv := elems[float32](x)
		out := tensor.New(zp.DType, x.Shape...)
		q := out.Data
		for i, v := range xv {
			c := (i / inner) % ch
			// ONNX: saturate(round_half_even(x / scale) + zero_point), the division in float32.
			r := math.RoundToEven(float64(v/sc[c])) + zps[c]
			r = max(lo, min(hi, r))
			if math.IsNaN(r) {
				r = zps[c]
			}
			q[i] = byte(int8(int(r)))
			if zp.DType == tensor.U8 {
				q[i] = byte(int(r))
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildDequantize(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypes(0, tensor.U8, tensor.I8, tensor.I32), b.dtypes(1, tensor.F32), b.sameDTypes(0, 2)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", 1)
	b.setOut(0, tensor.F32, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, scale := ins[0], ins[1]
		var zps []float64
		if len(ins) > 2 && ins[2] != nil {
			if ins[2].DType != x.DType || ins[2].Numel() != scale.Numel() {
				return nil, fmt.Errorf("zero point %v %v for %v data and scale %v", ins[2].DType, ins[2].Shape, x.DType, scale.Shape)
			}
			zps = ins[2].ToF64()
		}
		ch, inner, err := qaxis(x, scale, axis)
		if err != nil {
			return nil, err
		}
		sc := elems[float32](scale)
		out, d := newTensor[float32](tensor.F32, x.Shape)
		for i, v := range x.ToF64() {
			c := (i / inner) % ch
			if zps != nil {
				v -= zps[c]
			}
			d[i] = float32(v) * sc[c]
		}
		return mem.result(out), nil
	}, nil
}
