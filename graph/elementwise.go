package graph

import (
	"cmp"
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
		if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(0, types...), b.sameDTypes(0, 1)); err != nil {
			return nil, err
		}
		outDT := b.in(0).DType
		if boolOut {
			outDT = tensor.Bool
		}
		if err := b.broadcastOut(outDT, 0, 1); err != nil {
			return nil, err
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			out, err := binaryOf(mem, op, ins[0], ins[1])
			return mem.single(out, err)
		}, nil
	}
}

func binaryOf(mem *arena, op string, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("%s of %v and %v", op, a.DType, b.DType)
	}
	if err := checkBroadcastSize(a.Shape, b.Shape); err != nil {
		return nil, err
	}
	switch op {
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual":
		switch a.DType {
		case tensor.F32:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[float32](op))
		case tensor.F64:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[float64](op))
		case tensor.I64:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[int64](op))
		case tensor.I32:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[int32](op))
		case tensor.I16:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[int16](op))
		case tensor.I8:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[int8](op))
		case tensor.U8, tensor.Bool:
			return binaryApply(mem, a, b, tensor.Bool, compareFn[uint8](op))
		}
	case "And", "Or", "Xor":
		if a.DType != tensor.Bool {
			return nil, fmt.Errorf("%s of %v (bool expected)", op, a.DType)
		}
		return binaryApply(mem, a, b, tensor.Bool, logicFn(op))
	default:
		switch a.DType {
		case tensor.F32:
			if f := f32RowFn(op); f != nil {
				return binaryRows(mem, a, b, f)
			}
			return binaryApply(mem, a, b, a.DType, arithFn[float32](op))
		case tensor.F64:
			return binaryApply(mem, a, b, a.DType, arithFn[float64](op))
		case tensor.I64:
			return binaryApply(mem, a, b, a.DType, arithFn[int64](op))
		case tensor.I32:
			return binaryApply(mem, a, b, a.DType, arithFn[int32](op))
		case tensor.I16:
			return binaryApply(mem, a, b, a.DType, arithFn[int16](op))
		case tensor.I8:
			return binaryApply(mem, a, b, a.DType, arithFn[int8](op))
		case tensor.U8:
			return binaryApply(mem, a, b, a.DType, arithFn[uint8](op))
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
func binaryApply[T, R any](mem *arena, a, b *tensor.Tensor, outDT tensor.DType, f func(T, T) R) (*tensor.Tensor, error) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensorIn[R](mem, outDT, shape, false)
	av, bv := elems[T](a), elems[T](b)
	p := planRows(mem, shape, broadcastStridesIn(mem, a.Shape, shape), broadcastStridesIn(mem, b.Shape, shape))
	la, lb, inner := p.last[0], p.last[1], p.inner
	p.serial(mem, func(o int, offs []int) {
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

// f32Row computes one broadcast row of a float32 arithmetic op, d[i] = a[i*sa] op b[i*sb],
// with sa and sb 0 (a broadcast scalar) or 1.
type f32Row func(d, a, b []float32, sa, sb int)

func f32RowFn(op string) f32Row {
	switch op {
	case "Add":
		return addRow
	case "Sub":
		return subRow
	case "Mul":
		return mulRow
	case "Div":
		return divRow
	}
	return nil
}

// The row kernels below spell each operand pattern out (vector·vector, vector·scalar,
// scalar·vector) so that the loops carry no index arithmetic.

func addRow(d, a, b []float32, sa, sb int) {
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
		addRow(d, b, a, 1, 0) // addition commutes bit for bit
	default:
		fillRow(d, a[0]+b[0])
	}
}

func mulRow(d, a, b []float32, sa, sb int) {
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
	case sb == 1:
		mulRow(d, b, a, 1, 0) // multiplication commutes bit for bit
	default:
		fillRow(d, a[0]*b[0])
	}
}

func subRow(d, a, b []float32, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case sa == 1:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] - y
		}
	case sb == 1:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x - b[i]
		}
	default:
		fillRow(d, a[0]-b[0])
	}
}

func divRow(d, a, b []float32, sa, sb int) {
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case sa == 1:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] / y
		}
	case sb == 1:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x / b[i]
		}
	default:
		fillRow(d, a[0]/b[0])
	}
}

func fillRow(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}

// binaryRows is binaryApply for float32 with a whole-row kernel; rows are split across
// workers for large outputs.
func binaryRows(mem *arena, a, b *tensor.Tensor, f f32Row) (*tensor.Tensor, error) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensorIn[float32](mem, tensor.F32, shape, false)
	av, bv := elems[float32](a), elems[float32](b)
	p := planRows(mem, shape, broadcastStridesIn(mem, a.Shape, shape), broadcastStridesIn(mem, b.Shape, shape))
	workers := mem.workersFor(p.rows, p.rows*p.inner)
	args := binaryRowsArgs{p: p, d: d, av: av, bv: bv, f: f, per: p.scratchLen(), chunk: max(1, (p.rows+workers-1)/workers)}
	args.scratch = mem.ints(workers * args.per) // taken here: only the Run goroutine may
	runRange(workers, p.rows, args, binaryRowsArgs.run)
	return out, nil
}

// binaryRowsArgs is binaryRows' work, run over a range of rows. The rows are split as
// runRange splits them, chunk to a worker, so the k-th worker's iteration scratch is the
// k-th per ints of scratch.
type binaryRowsArgs struct {
	p          rowPlan
	d, av, bv  []float32
	f          f32Row
	scratch    []int
	per, chunk int
}

func (a binaryRowsArgs) run(lo, hi int) {
	k := lo / a.chunk
	a.p.each(lo, hi, a.scratch[k*a.per:(k+1)*a.per], a.row)
}

func (a *binaryRowsArgs) row(o int, offs []int) {
	a.f(a.d[o:o+a.p.inner], a.av[offs[0]:], a.bv[offs[1]:], a.p.last[0], a.p.last[1])
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
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			acc := ins[0]
			for _, t := range ins[1:] {
				var err error
				if acc, err = binaryOf(mem, pairOp, acc, t); err != nil {
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
				if acc, err = binaryOf(mem, "Div", acc, n); err != nil {
					return nil, err
				}
			}
			return mem.result(acc), nil
		}, nil
	}
}

func buildPow(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32), b.dtypes(1, tensor.F32, tensor.F64, tensor.I64, tensor.I32)); err != nil {
		return nil, err
	}
	if err := b.broadcastOut(b.in(0).DType, 0, 1); err != nil {
		return nil, err
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, y := ins[0], ins[1]
		if x.DType == tensor.F32 && y.DType == tensor.F32 {
			out, err := binaryApply(mem, x, y, tensor.F32, func(a, e float32) float32 {
				if e == 2 {
					return a * a
				}
				return float32(math.Pow(float64(a), float64(e)))
			})
			return mem.single(out, err)
		}
		// Mixed types: compute in float64 and convert to the base's type, as ONNX specifies.
		xf := &tensor.Tensor{DType: tensor.F64, Shape: x.Shape, Data: tensor.Bytes(x.ToF64())}
		yf := &tensor.Tensor{DType: tensor.F64, Shape: y.Shape, Data: tensor.Bytes(y.ToF64())}
		out, err := binaryApply(mem, xf, yf, tensor.F64, math.Pow)
		if err != nil {
			return nil, err
		}
		res, err := out.To(x.DType)
		return mem.single(res, err)
	}, nil
}

func buildWhere(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(3, 3, 1, 1), b.dtypes(0, tensor.Bool), b.sameDTypes(1, 2)); err != nil {
		return nil, err
	}
	if err := b.broadcastOut(b.in(1).DType, 0, 1, 2); err != nil {
		return nil, err
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		c, x, y := ins[0], ins[1], ins[2]
		if x.DType != y.DType || c.DType != tensor.Bool {
			return nil, fmt.Errorf("Where(%v, %v, %v)", c.DType, x.DType, y.DType)
		}
		var out *tensor.Tensor
		var err error
		switch x.DType.Size() {
		case 1:
			out, err = where[uint8](mem, c, x, y)
		case 2:
			out, err = where[uint16](mem, c, x, y)
		case 4:
			out, err = where[uint32](mem, c, x, y)
		default:
			out, err = where[uint64](mem, c, x, y)
		}
		return mem.single(out, err)
	}, nil
}

func where[W word](mem *arena, c, x, y *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkBroadcastSize(c.Shape, x.Shape); err != nil {
		return nil, err
	}
	if err := checkBroadcastSize(c.Shape, y.Shape); err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	out, d := newTensorIn[W](mem, x.DType, shape, false)
	cv, xv, yv := elems[uint8](c), elems[W](x), elems[W](y)
	p := planRows(mem, shape, broadcastStridesIn(mem, c.Shape, shape), broadcastStridesIn(mem, x.Shape, shape), broadcastStridesIn(mem, y.Shape, shape))
	lc, lx, ly, inner := p.last[0], p.last[1], p.last[2], p.inner
	p.serial(mem, func(o int, offs []int) {
		ic, ix, iy := offs[0], offs[1], offs[2]
		for j := range d[o : o+inner] {
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
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(0, tensor.F32), b.sameDTypes(0, 1)); err != nil {
		return nil, err
	}
	if err := b.broadcastOut(tensor.F32, 0, 1); err != nil {
		return nil, err
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, err := binaryApply(mem, ins[0], ins[1], tensor.F32, func(x, s float32) float32 {
			if x < 0 {
				return x * s
			}
			return x
		})
		return mem.single(out, err)
	}, nil
}

func buildNot(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.Bool)); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.Bool, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, d := newTensor[uint8](tensor.Bool, ins[0].Shape)
		for i, v := range elems[uint8](ins[0]) {
			d[i] = 1 - v&1
		}
		return mem.result(out), nil
	}, nil
}

// broadcastOut records output 0 as dt with the broadcast of the given inputs' shapes, as far
// as they are known at load time.
func (b *builder) broadcastOut(dt tensor.DType, inputs ...int) error {
	shapes := make([][]int, len(inputs))
	for i, in := range inputs {
		shapes[i] = b.in(in).Shape
	}
	shape, err := inferBroadcast(shapes...)
	if err != nil {
		return b.errorf("%v", err)
	}
	b.setOut(0, dt, shape)
	return nil
}
