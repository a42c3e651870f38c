package graph

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

var (
	floatTypes = []tensor.DType{tensor.F32, tensor.F64}
	numTypes   = []tensor.DType{tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I16, tensor.I8, tensor.U8}
	intTypes   = []tensor.DType{tensor.I64, tensor.I32}
	allTypes   = []tensor.DType{tensor.F32, tensor.F64, tensor.F16, tensor.BF16, tensor.I64, tensor.I32, tensor.I16, tensor.I8, tensor.U8, tensor.Bool}
)

func init() {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		ops[op] = binaryOp(op, numTypes, false)
	}
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		ops[op] = binaryOp(op, append([]tensor.DType{tensor.Bool}, numTypes...), true)
	}
	for _, op := range []string{"And", "Or", "Xor"} {
		ops[op] = binaryOp(op, []tensor.DType{tensor.Bool}, true)
	}
	ops["Pow"] = buildPow
	ops["Max"] = variadicOp("Max")
	ops["Min"] = variadicOp("Min")
	ops["Sum"] = variadicOp("Sum")
	ops["Mean"] = variadicOp("Mean")
	ops["Where"] = buildWhere
	ops["PRelu"] = buildPRelu
	ops["Not"] = buildNot
}

// binaryOp builds a broadcasting two-input op; compare ops output bool.
func binaryOp(op string, types []tensor.DType, boolOut bool) opDef {
	return func(b *builder) (kernel, error) {
		if err := b.arity(2, 2, 1, 1); err != nil {
			return nil, err
		}
		if err := b.dtypes(0, types...); err != nil {
			return nil, err
		}
		if err := b.sameDTypes(0, 1); err != nil {
			return nil, err
		}
		shape, err := inferBroadcast(b.in(0).Shape, b.in(1).Shape)
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		outDT := b.in(0).DType
		if boolOut {
			outDT = tensor.Bool
		}
		b.setOut(0, outDT, shape)
		return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			out, err := binaryOf(op, ins[0], ins[1])
			return []*tensor.Tensor{out}, err
		}, nil
	}
}

func binaryOf(op string, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("%s of %v and %v", op, a.DType, b.DType)
	}
	switch op {
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual":
		switch a.DType {
		case tensor.F32:
			return binaryApply(a, b, tensor.Bool, compareFn[float32](op))
		case tensor.F64:
			return binaryApply(a, b, tensor.Bool, compareFn[float64](op))
		case tensor.I64:
			return binaryApply(a, b, tensor.Bool, compareFn[int64](op))
		case tensor.I32:
			return binaryApply(a, b, tensor.Bool, compareFn[int32](op))
		case tensor.I16:
			return binaryApply(a, b, tensor.Bool, compareFn[int16](op))
		case tensor.I8:
			return binaryApply(a, b, tensor.Bool, compareFn[int8](op))
		case tensor.U8, tensor.Bool:
			return binaryApply(a, b, tensor.Bool, compareFn[uint8](op))
		}
	case "And", "Or", "Xor":
		if a.DType != tensor.Bool {
			return nil, fmt.Errorf("%s of %v (bool expected)", op, a.DType)
		}
		return binaryApply(a, b, tensor.Bool, logicFn(op))
	default:
		switch a.DType {
		case tensor.F32:
			if f := f32RowFn(op); f != nil {
				return binaryRows(a, b, f)
			}
			return binaryApply(a, b, a.DType, arithFn[float32](op))
		case tensor.F64:
			return binaryApply(a, b, a.DType, arithFn[float64](op))
		case tensor.I64:
			return binaryApply(a, b, a.DType, arithFn[int64](op))
		case tensor.I32:
			return binaryApply(a, b, a.DType, arithFn[int32](op))
		case tensor.I16:
			return binaryApply(a, b, a.DType, arithFn[int16](op))
		case tensor.I8:
			return binaryApply(a, b, a.DType, arithFn[int8](op))
		case tensor.U8:
			return binaryApply(a, b, a.DType, arithFn[uint8](op))
		}
	}
	return nil, fmt.Errorf("%s of %v tensors is not supported", op, a.DType)
}

func arithFn[T number](op string) func(x, y T) T {
	switch op {
	case "Add", "Sum":
		return func(x, y T) T { return x + y }
	case "Sub":
		return func(x, y T) T { return x - y }
	case "Mul":
		return func(x, y T) T { return x * y }
	case "Div":
		return func(x, y T) T { return x / y }
	case "Max":
		return func(x, y T) T {
			if x != x || x > y {
				return x
			}
			return y
		}
	case "Min":
		return func(x, y T) T {
			if x != x || x < y {
				return x
			}
			return y
		}
	}
	panic("graph: unknown arithmetic op " + op)
}

func compareFn[T number](op string) func(x, y T) uint8 {
	b := func(c bool) uint8 {
		if c {
			return 1
		}
		return 0
	}
	switch op {
	case "Equal":
		return func(x, y T) uint8 { return b(x == y) }
	case "Less":
		return func(x, y T) uint8 { return b(x < y) }
	case "Greater":
		return func(x, y T) uint8 { return b(x > y) }
	case "LessOrEqual":
		return func(x, y T) uint8 { return b(x <= y) }
	case "GreaterOrEqual":
		return func(x, y T) uint8 { return b(x >= y) }
	}
	panic("graph: unknown comparison " + op)
}

func logicFn(op string) func(x, y uint8) uint8 {
	switch op {
	case "And":
		return func(x, y uint8) uint8 { return x & y & 1 }
	case "Or":
		return func(x, y uint8) uint8 { return (x | y) & 1 }
	}
	return func(x, y uint8) uint8 { return (x ^ y) & 1 }
}

// binaryApply computes dst[i] = f(a[i'], b[i”]) over the broadcast shape of a and b.
func binaryApply[T, R any](a, b *tensor.Tensor, outDT tensor.DType, f func(T, T) R) (*tensor.Tensor, error) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensor[R](outDT, shape)
	av, bv := elems[T](a), elems[T](b)
	if sameShape(a.Shape, b.Shape) {
		for i := range d {
			d[i] = f(av[i], bv[i])
		}
		return out, nil
	}
	sa, sb := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
	inner, la, lb := 1, 0, 0
	if r := len(shape); r > 0 {
		inner, la, lb = shape[r-1], sa[r-1], sb[r-1]
	}
	forEachRow(shape, [][]int{sa, sb}, func(o int, offs []int) {
		ia, ib := offs[0], offs[1]
		row := d[o : o+inner]
		for j := range row {
			row[j] = f(av[ia], bv[ib])
			ia += la
			ib += lb
		}
	})
	return out, nil
}

// f32Row computes one broadcast row of a float32 arithmetic op; sa and sb are 0 or 1.
type f32Row func(d, a, b []float32, sa, sb int)

func f32RowFn(op string) f32Row {
	switch op {
	case "Add":
		return func(d, a, b []float32, sa, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] + b[i]
				}
			case sa == 1:
				a, y := a[:len(d)], b[0]
				for i := range d {
					d[i] = a[i] + y
				}
			case sb == 1:
				x, b := a[0], b[:len(d)]
				for i := range d {
					d[i] = x + b[i]
				}
			default:
				for i := range d {
					d[i] = a[0] + b[0]
				}
			}
		}
	case "Sub":
		return func(d, a, b []float32, sa, sb int) {
			for i := range d {
				d[i] = a[i*sa] - b[i*sb]
			}
		}
	case "Mul":
		return func(d, a, b []float32, sa, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(d)], b[:len(d)]
				for i := range d {
					d[i] = a[i] * b[i]
				}
			case sa == 1:
				a, y := a[:len(d)], b[0]
				for i := range d {
					d[i] = a[i] * y
				}
			default:
				for i := range d {
					d[i] = a[i*sa] * b[i*sb]
				}
			}
		}
	case "Div":
		return func(d, a, b []float32, sa, sb int) {
			for i := range d {
				d[i] = a[i*sa] / b[i*sb]
			}
		}
	}
	return nil
}

// binaryRows is binaryApply for float32 with a whole-row kernel.
func binaryRows(a, b *tensor.Tensor, f f32Row) (*tensor.Tensor, error) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensor[float32](tensor.F32, shape)
	av, bv := elems[float32](a), elems[float32](b)
	if len(d) == 0 {
		return out, nil
	}
	if sameShape(a.Shape, b.Shape) {
		f(d, av, bv, 1, 1)
		return out, nil
	}
	sa, sb := broadcastStrides(a.Shape, shape), broadcastStrides(b.Shape, shape)
	inner, la, lb := 1, 0, 0
	if r := len(shape); r > 0 {
		inner, la, lb = shape[r-1], sa[r-1], sb[r-1]
	}
	forEachRow(shape, [][]int{sa, sb}, func(o int, offs []int) {
		f(d[o:o+inner], av[offs[0]:], bv[offs[1]:], la, lb)
	})
	return out, nil
}

// variadicOp builds Max, Min, Sum and Mean over one or more broadcast inputs.
func variadicOp(op string) opDef {
	return func(b *builder) (kernel, error) {
		if err := b.arity(1, 1<<16, 1, 1); err != nil {
			return nil, err
		}
		types := numTypes
		if op == "Mean" {
			types = floatTypes
		}
		idx := make([]int, len(b.n.Inputs))
		shapes := make([][]int, len(b.n.Inputs))
		for i := range idx {
			idx[i] = i
			shapes[i] = b.in(i).Shape
			if err := b.dtypes(i, types...); err != nil {
				return nil, err
			}
		}
		if err := b.sameDTypes(idx...); err != nil {
			return nil, err
		}
		shape, err := inferBroadcast(shapes...)
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		b.setOut(0, b.in(0).DType, shape)
		pairOp := op
		if op == "Sum" || op == "Mean" {
			pairOp = "Add"
		}
		return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			acc := ins[0]
			for _, t := range ins[1:] {
				var err error
				if acc, err = binaryOf(pairOp, acc, t); err != nil {
					return nil, err
				}
			}
			if op == "Mean" {
				n := tensor.New(acc.DType)
				if acc.DType == tensor.F32 {
					elems[float32](n)[0] = float32(len(ins))
				} else {
					elems[float64](n)[0] = float64(len(ins))
				}
				var err error
				if acc, err = binaryOf("Div", acc, n); err != nil {
					return nil, err
				}
			}
			return []*tensor.Tensor{acc}, nil
		}, nil
	}
}

func buildPow(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32); err != nil {
		return nil, err
	}
	if err := b.dtypes(1, tensor.F32, tensor.F64, tensor.I64, tensor.I32); err != nil {
		return nil, err
	}
	shape, err := inferBroadcast(b.in(0).Shape, b.in(1).Shape)
	if err != nil {
		return nil, b.errorf("%v", err)
	}
	b.setOut(0, b.in(0).DType, shape)
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, y := ins[0], ins[1]
		if x.DType == tensor.F32 && y.DType == tensor.F32 {
			out, err := binaryApply(x, y, tensor.F32, func(a, e float32) float32 {
				if e == 2 {
					return a * a
				}
				return float32(math.Pow(float64(a), float64(e)))
			})
			return []*tensor.Tensor{out}, err
		}
		// Mixed types: compute in float64 and convert to the base's type, as ONNX specifies.
		xf := &tensor.Tensor{DType: tensor.F64, Shape: x.Shape, Data: tensor.Bytes(x.ToF64())}
		yf := &tensor.Tensor{DType: tensor.F64, Shape: y.Shape, Data: tensor.Bytes(y.ToF64())}
		out, err := binaryApply(xf, yf, tensor.F64, math.Pow)
		if err != nil {
			return nil, err
		}
		res, err := out.To(x.DType)
		return []*tensor.Tensor{res}, err
	}, nil
}

func buildWhere(b *builder) (kernel, error) {
	if err := b.arity(3, 3, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.Bool); err != nil {
		return nil, err
	}
	if err := b.sameDTypes(1, 2); err != nil {
		return nil, err
	}
	shape, err := inferBroadcast(b.in(0).Shape, b.in(1).Shape, b.in(2).Shape)
	if err != nil {
		return nil, b.errorf("%v", err)
	}
	b.setOut(0, b.in(1).DType, shape)
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		c, x, y := ins[0], ins[1], ins[2]
		if x.DType != y.DType || c.DType != tensor.Bool {
			return nil, fmt.Errorf("Where(%v, %v, %v)", c.DType, x.DType, y.DType)
		}
		var out *tensor.Tensor
		var err error
		switch x.DType.Size() {
		case 1:
			out, err = where[uint8](c, x, y)
		case 2:
			out, err = where[uint16](c, x, y)
		case 4:
			out, err = where[uint32](c, x, y)
		default:
			out, err = where[uint64](c, x, y)
		}
		return []*tensor.Tensor{out}, err
	}, nil
}

func where[W word](c, x, y *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := broadcastShapes(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensor[W](x.DType, shape)
	cv, xv, yv := elems[uint8](c), elems[W](x), elems[W](y)
	sc, sx, sy := broadcastStrides(c.Shape, shape), broadcastStrides(x.Shape, shape), broadcastStrides(y.Shape, shape)
	inner, lc, lx, ly := 1, 0, 0, 0
	if r := len(shape); r > 0 {
		inner, lc, lx, ly = shape[r-1], sc[r-1], sx[r-1], sy[r-1]
	}
	forEachRow(shape, [][]int{sc, sx, sy}, func(o int, offs []int) {
		ic, ix, iy := offs[0], offs[1], offs[2]
		for j := 0; j < inner; j++ {
			if cv[ic] != 0 {
				d[o+j] = xv[ix]
			} else {
				d[o+j] = yv[iy]
			}
			ic += lc
			ix += lx
			iy += ly
		}
	})
	return out, nil
}

func buildPRelu(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.F32); err != nil {
		return nil, err
	}
	if err := b.sameDTypes(0, 1); err != nil {
		return nil, err
	}
	shape, err := inferBroadcast(b.in(0).Shape, b.in(1).Shape)
	if err != nil {
		return nil, b.errorf("%v", err)
	}
	b.setOut(0, tensor.F32, shape)
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, err := binaryApply(ins[0], ins[1], tensor.F32, func(x, s float32) float32 {
			if x < 0 {
				return x * s
			}
			return x
		})
		return []*tensor.Tensor{out}, err
	}, nil
}

func buildNot(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.Bool); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.Bool, b.in(0).Shape)
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, d := newTensor[uint8](tensor.Bool, ins[0].Shape)
		for i, v := range elems[uint8](ins[0]) {
			d[i] = 1 - v&1
		}
		return []*tensor.Tensor{out}, nil
	}, nil
}
