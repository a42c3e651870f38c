package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// Ops whose output comes from attributes or from a shape rather than from their inputs'
// values: Constant, ConstantOfShape, Shape, Size and Range.

func init() {
	ops["Constant"] = buildConstant
	ops["ConstantOfShape"] = buildConstantOfShape
	ops["Shape"] = buildShape
	ops["Size"] = buildSize
	ops["Range"] = buildRange
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
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.I64)); err != nil {
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
		b.setOut(0, value.DType, dims(s))
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s, err := toInts(mem, ins[0])
		if err != nil {
			return nil, err
		}
		shape := dims(s)
		if containsNeg(shape) {
			return nil, fmt.Errorf("negative dim in shape %v", s)
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
			b.outConst(0, shapeTensor(nil, s[lo:hi]))
		}
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := ins[0].Shape
		lo, hi := bounds(len(s))
		return mem.result(shapeTensor(mem, s[lo:hi])), nil
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

func buildRange(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(3, 3, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I16), b.sameDTypes(0, 1, 2)); err != nil {
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
