package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Cast"] = buildCast
}

func buildCast(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, allTypes...)); err != nil {
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
