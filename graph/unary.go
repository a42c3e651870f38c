package graph

import (
	"cmp"
	"math"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

// unaryMath lists the float ops that map each element through one function (computed in
// float64 and rounded back, which is at least as accurate as ONNX Runtime's float32 code).
var unaryMath = map[string]func(float64) float64{
	"Sigmoid": func(x float64) float64 {
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	},
	"Tanh":       math.Tanh,
	"Erf":        erf64,
	"Exp":        math.Exp,
	"Log":        math.Log,
	"Sqrt":       math.Sqrt,
	"Reciprocal": func(x float64) float64 { return 1 / x },
	"Floor":      math.Floor,
	"Ceil":       math.Ceil,
	"Round":      math.RoundToEven,
	"Sin":        math.Sin,
	"Cos":        math.Cos,
	"Tan":        math.Tan,
	"Asin":       math.Asin,
	"Acos":       math.Acos,
	"Atan":       math.Atan,
	"Sinh":       math.Sinh,
	"Cosh":       math.Cosh,
	"Asinh":      math.Asinh,
	"Acosh":      math.Acosh,
	"Atanh":      math.Atanh,
	"Softsign":   func(x float64) float64 { return x / (1 + math.Abs(x)) },
	"Softplus": func(x float64) float64 {
		if x > 30 {
			return x
		}
		return math.Log1p(math.Exp(x))
	},
}

// unaryParam builds the element function of an activation from its attributes.
var unaryParam = map[string]func(b *builder) func(float64) float64{
	"LeakyRelu": func(b *builder) func(float64) float64 {
		alpha := float64(b.attrFloat("alpha", 0.01))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}
	},
	"HardSigmoid": func(b *builder) func(float64) float64 {
		alpha, beta := float64(b.attrFloat("alpha", 0.2)), float64(b.attrFloat("beta", 0.5))
		return func(x float64) float64 { return math.Max(0, math.Min(1, alpha*x+beta)) }
	},
	"HardSwish": func(b *builder) func(float64) float64 {
		return func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }
	},
	"Elu": func(b *builder) func(float64) float64 {
		alpha := float64(b.attrFloat("alpha", 1))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * (math.Exp(x) - 1)
			}
			return x
		}
	},
	"Celu": func(b *builder) func(float64) float64 {
		alpha := float64(b.attrFloat("alpha", 1))
		return func(x float64) float64 { return math.Max(0, x) + math.Min(0, alpha*(math.Exp(x/alpha)-1)) }
	},
	"Selu": func(b *builder) func(float64) float64 {
		alpha := float64(b.attrFloat("alpha", 1.67326319217681884765625))
		gamma := float64(b.attrFloat("gamma", 1.05070102214813232421875))
		return func(x float64) float64 {
			if x <= 0 {
				return gamma * (alpha*math.Exp(x) - alpha)
			}
			return gamma * x
		}
	},
	"ThresholdedRelu": func(b *builder) func(float64) float64 {
		alpha := float64(b.attrFloat("alpha", 1))
		return func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}
	},
	"Shrink": func(b *builder) func(float64) float64 {
		bias, lambd := float64(b.attrFloat("bias", 0)), float64(b.attrFloat("lambd", 0.5))
		return func(x float64) float64 {
			switch {
			case x < -lambd:
				return x + bias
			case x > lambd:
				return x - bias
			}
			return 0
		}
	},
}

func init() {
	for name, f := range unaryMath {
		ops[name] = unaryFloatOp(func(*builder) (func(float64) float64, error) { return f, nil })
	}
	for name, mk := range unaryParam {
		ops[name] = unaryFloatOp(func(b *builder) (func(float64) float64, error) { return mk(b), nil })
	}
	ops["Gelu"] = unaryFloatOp(buildGelu)
	ops["Relu"] = buildRelu
	ops["Neg"] = signedOp("Neg")
	ops["Abs"] = signedOp("Abs")
	ops["Sign"] = signedOp("Sign")
	ops["Clip"] = buildClip
	ops["IsNaN"] = buildIsNaN
	ops["IsInf"] = buildIsInf
}

func buildGelu(b *builder) (func(float64) float64, error) {
	switch approx := b.attrString("approximate", "none"); approx {
	case "none":
		return func(x float64) float64 { return 0.5 * x * (1 + erf64(x/math.Sqrt2)) }, nil
	case "tanh":
		c := math.Sqrt(2 / math.Pi)
		return func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x))) }, nil
	default:
		return nil, b.unsupported("approximate=%q", approx)
	}
}

func unaryFloatOp(mk func(b *builder) (func(float64) float64, error)) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, floatTypes...)); err != nil {
			return nil, err
		}
		f, err := mk(b)
		if err != nil {
			return nil, err
		}
		b.setOut(0, b.in(0).DType, b.in(0).Shape)
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return mem.result(mapFloat(mem, ins[0], f)), nil
		}, nil
	}
}

// mapFloat applies f to every element, split over workers for large tensors (f costs tens of
// nanoseconds for Erf or Exp).
func mapFloat(mem *arena, x *tensor.Tensor, f func(float64) float64) *tensor.Tensor {
	n := x.Numel()
	if x.DType == tensor.F64 {
		out, d := newTensorIn[float64](mem, tensor.F64, x.Shape, false)
		forRange(mem, n, 8*n, mapArgs{d: d, src: elems[float64](x), f: f}, mapArgs.run)
		return out
	}
	out, d := newTensorIn[float32](mem, tensor.F32, x.Shape, false)
	forRange(mem, n, 8*n, map32Args{d: d, src: elems[float32](x), f: f}, map32Args.run)
	return out
}

// mapArgs is mapFloat's work on float64s, run over a range of elements.
type mapArgs struct {
	d, src []float64
	f      func(float64) float64
}

func (a mapArgs) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		a.d[i] = a.f(a.src[i])
	}
}

// map32Args is mapFloat's work on float32s, run over a range of elements: widened a chunk at
// a time (see widen).
type map32Args struct {
	d, src []float32
	f      func(float64) float64
}

func (a map32Args) run(lo, hi int) {
	var buf [widenChunk]float64
	for c := lo; c < hi; c += widenChunk {
		w := widen(buf[:], a.src[c:min(c+widenChunk, hi)])
		for i, v := range w {
			w[i] = a.f(v)
		}
		narrowTo(a.d[c:c+len(w)], w)
	}
}

// widenChunk is the number of elements float kernels convert to float64 at a time.
const widenChunk = 256

// widen converts src to float64 into buf (len(src) <= len(buf)) and returns that part of buf.
// Converting in a loop of its own keeps the conversion's false dependency on its destination
// register (CVTSS2SD merges into it) out of the loop that evaluates f, where it would chain
// every element's evaluation to the previous one: Erf ran five times slower that way.
func widen(buf []float64, src []float32) []float64 {
	buf = buf[:len(src)]
	for i, v := range src {
		buf[i] = float64(v)
	}
	return buf
}

// narrowTo rounds src to float32 into dst (same length).
func narrowTo(dst []float32, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(v)
	}
}

func buildRelu(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I8)); err != nil {
		return nil, err
	}
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.result(mapSigned(mem, ins[0], "Relu")), nil
	}, nil
}

func signedOp(op string) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I16, tensor.I8)); err != nil {
			return nil, err
		}
		b.setOut(0, b.in(0).DType, b.in(0).Shape)
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return mem.result(mapSigned(mem, ins[0], op)), nil
		}, nil
	}
}

func mapSigned(mem *arena, x *tensor.Tensor, op string) *tensor.Tensor {
	switch x.DType {
	case tensor.F32:
		return mapSignedT[float32](mem, x, op)
	case tensor.F64:
		return mapSignedT[float64](mem, x, op)
	case tensor.I64:
		return mapSignedT[int64](mem, x, op)
	case tensor.I32:
		return mapSignedT[int32](mem, x, op)
	case tensor.I16:
		return mapSignedT[int16](mem, x, op)
	default:
		return mapSignedT[int8](mem, x, op)
	}
}

// mapSignedT computes Relu, Neg, Abs or Sign of every element, split across workers for
// large tensors.
func mapSignedT[T float32 | float64 | int64 | int32 | int16 | int8](mem *arena, x *tensor.Tensor, op string) *tensor.Tensor {
	all := elems[T](x)
	out, dst := elementwiseOut[T](mem, x, x.DType)
	a := signedArgs[T]{dst: dst, src: all, op: op}
	if workers := mem.workersFor(len(dst), len(dst)); workers > 1 {
		runRange(workers, len(dst), a, signedArgs[T].run)
	} else {
		a.run(0, len(dst)) // signedArgs[T].run as a value would allocate (it binds T's dictionary)
	}
	return out
}

// signedArgs is mapSignedT's work, run over a range of elements.
type signedArgs[T float32 | float64 | int64 | int32 | int16 | int8] struct {
	dst, src []T
	op       string
}

func (a signedArgs[T]) run(lo, hi int) {
	d, src, op := a.dst[lo:hi], a.src[lo:hi], a.op
	switch op {
	case "Relu":
		if d32, ok := any(d).([]float32); ok {
			sgemm.Relu(d32, any(src).([]float32)) // the generic loop's bits, as Conv's fused epilogue
			return
		}
		for i, v := range src {
			if !(v > 0) {
				v = 0 // NaN too, as max(0, x) in ONNX Runtime
			}
			d[i] = v
		}
	case "Neg":
		for i, v := range src {
			d[i] = -v
		}
	case "Abs":
		for i, v := range src {
			if v < 0 {
				v = -v
			}
			d[i] = v
		}
	case "Sign":
		for i, v := range src {
			switch {
			case v > 0:
				d[i] = 1
			case v < 0:
				d[i] = 0
				d[i]--
			case v != v:
				d[i] = v
			default:
				d[i] = 0
			}
		}
	}
}

// buildClip handles both forms: min/max attributes (opset < 11) and optional inputs (11+).
func buildClip(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 3, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I8, tensor.U8), b.sameDTypes(0, 1, 2)); err != nil {
		return nil, err
	}
	attrMin, hasMin := b.attr("min")
	attrMax, hasMax := b.attr("max")
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		lo, hi := math.Inf(-1), math.Inf(1)
		if hasMin {
			lo = float64(attrMin.Float)
		}
		if hasMax {
			hi = float64(attrMax.Float)
		}
		if len(ins) > 1 && ins[1] != nil {
			lo = ins[1].ToF64()[0]
		}
		if len(ins) > 2 && ins[2] != nil {
			hi = ins[2].ToF64()[0]
		}
		x := ins[0]
		switch x.DType {
		case tensor.F32:
			return mem.result(clipF32(mem, x, lo, hi)), nil
		case tensor.F64:
			return mem.result(clipT[float64](x, lo, hi)), nil
		case tensor.I64:
			return mem.result(clipT[int64](x, lo, hi)), nil
		case tensor.I32:
			return mem.result(clipT[int32](x, lo, hi)), nil
		case tensor.I8:
			return mem.result(clipT[int8](x, lo, hi)), nil
		default:
			return mem.result(clipT[uint8](x, lo, hi)), nil
		}
	}, nil
}

// clipF32 is clipT for float32, into the Run's arena: the bounds came from float32
// attributes or tensors, so comparing in float32 is comparing in float64. When lo <= hi,
// the two clamps in a row give clipT's result (NaN and -0 kept).
func clipF32(mem *arena, x *tensor.Tensor, lo, hi float64) *tensor.Tensor {
	if !(lo <= hi) || float64(float32(lo)) != lo || float64(float32(hi)) != hi {
		return clipT[float32](x, lo, hi)
	}
	src := elems[float32](x)
	out, d := elementwiseOut[float32](mem, x, tensor.F32)
	sgemm.Clamp(d, src, float32(lo), float32(hi)) // as Conv's fused epilogue does
	return out
}

func clipT[T number](x *tensor.Tensor, lo, hi float64) *tensor.Tensor {
	out, d := newTensor[T](x.DType, x.Shape)
	for i, v := range elems[T](x) {
		f := float64(v)
		switch {
		case f < lo:
			v = T(lo)
		case f > hi:
			v = T(hi)
		}
		d[i] = v
	}
	return out
}

func buildIsNaN(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, floatTypes...)); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.Bool, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, d := newTensor[uint8](tensor.Bool, ins[0].Shape)
		for i, v := range ins[0].ToF64() {
			if math.IsNaN(v) {
				d[i] = 1
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildIsInf(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, floatTypes...)); err != nil {
		return nil, err
	}
	neg, pos := b.attrInt("detect_negative", 1) != 0, b.attrInt("detect_positive", 1) != 0
	b.setOut(0, tensor.Bool, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, d := newTensor[uint8](tensor.Bool, ins[0].Shape)
		for i, v := range ins[0].ToF64() {
			if (pos && math.IsInf(v, 1)) || (neg && math.IsInf(v, -1)) {
				d[i] = 1
			}
		}
		return mem.result(out), nil
	}, nil
}
