package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// Mod, CumSum, OneHot, Trilu, CastLike, EyeLike, LRN and MeanVarianceNormalization. Values
// go through float64 where the op does arithmetic and convert back to the input's dtype
// (integers are exact up to 2^53).

func init() {
	ops["Mod"] = buildMod
	ops["CumSum"] = buildCumSum
	ops["OneHot"] = buildOneHot
	ops["Trilu"] = buildTrilu
	ops["CastLike"] = buildCastLike
	ops["EyeLike"] = buildEyeLike
	ops["LRN"] = buildLRN
	ops["MeanVarianceNormalization"] = buildMVN
}

// fromF64 builds a tensor of dtype dt from float64 values (floats round, integers truncate).
func fromF64(dt tensor.DType, shape []int, v []float64) (*tensor.Tensor, error) {
	return castTo(&tensor.Tensor{DType: tensor.F64, Shape: append([]int{}, shape...), Data: tensor.Bytes(v)}, dt)
}

func buildMod(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.sameDTypes(0, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32, tensor.I16, tensor.I8, tensor.U8)); err != nil {
		return nil, err
	}
	fmod := b.attrInt("fmod", 0) != 0
	if dt := b.in(0).DType; dt.IsFloat() && !fmod {
		return nil, b.errorf("fmod=0 on %v (floating-point Mod needs fmod=1)", dt)
	}
	if err := b.broadcastOut(b.in(0).DType, 0, 1); err != nil {
		return nil, err
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		a, c := ins[0], ins[1]
		if err := checkBroadcastSize(a.Shape, c.Shape); err != nil {
			return nil, err
		}
		shape, err := broadcastShapes(a.Shape, c.Shape)
		if err != nil {
			return nil, err
		}
		av, cv := broadcastTo(a, shape).ToF64(), broadcastTo(c, shape).ToF64()
		for i := range av {
			x, y := av[i], cv[i]
			if !fmod && y == 0 {
				return nil, fmt.Errorf("integer Mod by zero")
			}
			r := math.Mod(x, y)
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y // the sign of the divisor, like Python's %
			}
			av[i] = r
		}
		return mem.single(fromF64(a.DType, shape, av))
	}, nil
}

func buildCumSum(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(0, tensor.F32, tensor.F64, tensor.I64, tensor.I32), b.dtypes(1, intTypes...)); err != nil {
		return nil, err
	}
	exclusive, reverse := b.attrInt("exclusive", 0) != 0, b.attrInt("reverse", 0) != 0
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		axv, err := toInts(mem, ins[1])
		if err != nil || len(axv) != 1 {
			return nil, fmt.Errorf("axis must be one integer, got %v", ins[1].Shape)
		}
		ax, err := normAxis(axv[0], len(x.Shape))
		if err != nil {
			return nil, err
		}
		v := x.ToF64()
		out := make([]float64, len(v))
		n, inner := x.Shape[ax], product(x.Shape[ax+1:])
		for o := 0; o < product(x.Shape[:ax]); o++ {
			for i := 0; i < inner; i++ {
				acc := 0.0
				for s := 0; s < n; s++ {
					t := s
					if reverse {
						t = n - 1 - s
					}
					at := (o*n+t)*inner + i
					if exclusive {
						out[at] = acc
						acc += v[at]
					} else {
						acc += v[at]
						out[at] = acc
					}
				}
			}
		}
		return mem.single(fromF64(x.DType, x.Shape, out))
	}, nil
}

func buildOneHot(b *builder) (kernel, error) {
	if err := b.arity(3, 3, 1, 1); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", -1)
	b.setOut(0, b.in(2).DType, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		idx, depthT, vals := ins[0].ToF64(), ins[1].ToF64(), ins[2]
		if len(depthT) != 1 || vals.Numel() != 2 {
			return nil, fmt.Errorf("depth %v and values %v: want one depth and two values", ins[1].Shape, vals.Shape)
		}
		depth := int(depthT[0])
		if depth <= 0 {
			return nil, fmt.Errorf("depth %d", depth)
		}
		rank := len(ins[0].Shape) + 1
		ax, err := normAxis(axis, rank)
		if err != nil {
			return nil, err
		}
		shape := append(append(append([]int{}, ins[0].Shape[:ax]...), depth), ins[0].Shape[ax:]...)
		if err := checkOutputSize(shape); err != nil {
			return nil, err
		}
		out := tensor.New(vals.DType, shape...)
		es := vals.DType.Size()
		outer, inner := product(ins[0].Shape[:ax]), product(ins[0].Shape[ax:])
		for i := 0; i < len(out.Data); i += es {
			copy(out.Data[i:i+es], vals.Data[:es]) // off value
		}
		for i, f := range idx {
			k := int(f)
			if k < 0 {
				k += depth
			}
			if k < 0 || k >= depth {
				continue // out of range: all off
			}
			o, in := i/inner, i%inner
			pos := (o*depth+k)*inner + in
			copy(out.Data[pos*es:(pos+1)*es], vals.Data[es:2*es])
		}
		_ = outer
		return mem.result(out), nil
	}, nil
}

func buildTrilu(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 2, 1, 1), b.dtypes(1, tensor.I64)); err != nil {
		return nil, err
	}
	upper := b.attrInt("upper", 1) != 0
	b.setOut(0, b.in(0).DType, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input %v has fewer than 2 dims", x.Shape)
		}
		k := int64(0)
		if len(ins) > 1 && ins[1] != nil {
			kv, err := toInts(mem, ins[1])
			if err != nil || len(kv) != 1 {
				return nil, fmt.Errorf("k must be one int64")
			}
			k = kv[0]
		}
		out := tensor.New(x.DType, x.Shape...)
		copy(out.Data, x.Data)
		r, c := x.Shape[len(x.Shape)-2], x.Shape[len(x.Shape)-1]
		es := x.DType.Size()
		for m := 0; m < product(x.Shape[:len(x.Shape)-2]); m++ {
			for i := 0; i < r; i++ {
				for j := 0; j < c; j++ {
					d := int64(j - i)
					if upper && d < k || !upper && d > k {
						at := ((m*r+i)*c + j) * es
						clear(out.Data[at : at+es])
					}
				}
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildCastLike(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	b.ignoreAttrs("saturate")
	dt := b.in(1).DType
	b.setOut(0, dt, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.single(castTo(ins[0], ins[1].DType))
	}, nil
}

func buildEyeLike(b *builder) (kernel, error) {
	if err := b.arity(1, 1, 1, 1); err != nil {
		return nil, err
	}
	dt := b.in(0).DType
	if a, ok := b.attr("dtype"); ok {
		var ok2 bool
		if dt, ok2 = computeDType(int32(a.Int)); !ok2 {
			return nil, b.unsupported("dtype %d", a.Int)
		}
		if isHalf(dt) {
			dt = tensor.F32
		}
	}
	k := int(b.attrInt("k", 0))
	b.setOut(0, dt, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := ins[0].Shape
		if len(s) != 2 {
			return nil, fmt.Errorf("input %v is not 2-D", s)
		}
		out := dt
		if out == tensor.Invalid {
			out = ins[0].DType
		}
		v := make([]float64, s[0]*s[1])
		for i := 0; i < s[0]; i++ {
			if j := i + k; j >= 0 && j < s[1] {
				v[i*s[1]+j] = 1
			}
		}
		return mem.single(fromF64(out, s, v))
	}, nil
}

func buildLRN(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32)); err != nil {
		return nil, err
	}
	size := int(b.attrInt("size", 0))
	if size <= 0 {
		return nil, b.errorf("size=%d", size)
	}
	alpha, beta, bias := float64(b.attrFloat("alpha", 1e-4)), float64(b.attrFloat("beta", 0.75)), float64(b.attrFloat("bias", 1))
	b.setOut(0, tensor.F32, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		if len(x.Shape) < 3 {
			return nil, fmt.Errorf("input %v is not [N C ...]", x.Shape)
		}
		n, c, plane := x.Shape[0], x.Shape[1], product(x.Shape[2:])
		xv := elems[float32](x)
		out, d := newTensorIn[float32](mem, tensor.F32, x.Shape, false)
		lo, hi := (size-1)/2, (size-1)-(size-1)/2
		for bi := 0; bi < n; bi++ {
			for ch := 0; ch < c; ch++ {
				for p := 0; p < plane; p++ {
					sum := 0.0
					for k := max(0, ch-lo); k <= min(c-1, ch+hi); k++ {
						v := float64(xv[(bi*c+k)*plane+p])
						sum += v * v
					}
					at := (bi*c+ch)*plane + p
					d[at] = float32(float64(xv[at]) / math.Pow(bias+alpha/float64(size)*sum, beta))
				}
			}
		}
		return mem.result(out), nil
	}, nil
}

// buildMVN is ONNX's function body: (X - mean) / (sqrt(mean((X - mean)²)) + 1e-9) over axes.
func buildMVN(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32)); err != nil {
		return nil, err
	}
	axes, ok := b.attrInts("axes")
	if !ok {
		axes = []int64{0, 2, 3}
	}
	b.setOut(0, tensor.F32, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		mask, err := reduceMask(len(x.Shape), axes, false)
		if err != nil {
			return nil, err
		}
		mean, err := reduce(nil, "ReduceMean", x, mask, true)
		if err != nil {
			return nil, err
		}
		centered, err := binaryOf(nil, "Sub", x, mean)
		if err != nil {
			return nil, err
		}
		sq, err := binaryOf(nil, "Mul", centered, centered)
		if err != nil {
			return nil, err
		}
		variance, err := reduce(nil, "ReduceMean", sq, mask, true)
		if err != nil {
			return nil, err
		}
		sd := elems[float32](variance)
		for i, v := range sd {
			sd[i] = float32(math.Sqrt(float64(v))) + 1e-9
		}
		return mem.single(binaryOf(mem, "Div", centered, variance))
	}, nil
}
