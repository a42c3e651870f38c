package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["BatchNormalization"] = buildBatchNorm
	ops["InstanceNormalization"] = buildInstanceNorm
	ops["LayerNormalization"] = buildLayerNorm
	ops["Softmax"] = softmaxOp("Softmax")
	ops["LogSoftmax"] = softmaxOp("LogSoftmax")
	ops["Hardmax"] = softmaxOp("Hardmax")
}

func buildBatchNorm(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(5, 5, 1, 5), b.dtypesOf(0, 5, tensor.F32)); err != nil {
		return nil, err
	}
	if b.attrInt("training_mode", 0) != 0 || len(b.n.Outputs) > 1 {
		return nil, b.unsupported("training mode (only inference is supported)")
	}
	// spatial=0 (opsets 7-8): scale, B, mean and var hold one value per element of a sample
	// ([C, D1, ...]) instead of one per channel.
	spatial := b.attrInt("spatial", 1) != 0
	b.ignoreAttrs("momentum", "is_test", "consumed_inputs")
	eps := float64(b.attrFloat("epsilon", 1e-5))
	b.setOut(0, tensor.F32, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input %v has no channel dim", x.Shape)
		}
		c := x.Shape[1]
		plane := product(x.Shape[2:])
		if !spatial {
			c, plane = product(x.Shape[1:]), 1
		}
		for i := 1; i < 5; i++ {
			if ins[i].Numel() != c {
				return nil, fmt.Errorf("input %d has shape %v for %d channels", i, ins[i].Shape, c)
			}
		}
		scale, bias, mean, variance := elems[float32](ins[1]), elems[float32](ins[2]), elems[float32](ins[3]), elems[float32](ins[4])
		out, d := newTensorIn[float32](mem, tensor.F32, x.Shape, false)
		xv := elems[float32](x)
		for i := 0; i < x.Shape[0]*c; i++ {
			ch := i % c
			k := float32(float64(scale[ch]) / math.Sqrt(float64(variance[ch])+eps))
			off := bias[ch] - mean[ch]*k
			src, dst := xv[i*plane:(i+1)*plane], d[i*plane:(i+1)*plane]
			for j, v := range src {
				dst[j] = v*k + off
			}
		}
		return mem.result(out), nil
	}, nil
}

func buildInstanceNorm(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(3, 3, 1, 1), b.dtypesOf(0, 3, tensor.F32)); err != nil {
		return nil, err
	}
	eps := float64(b.attrFloat("epsilon", 1e-5))
	b.setOut(0, tensor.F32, b.in(0).Shape)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		if len(x.Shape) < 3 {
			return nil, fmt.Errorf("input %v has no spatial dims", x.Shape)
		}
		c := x.Shape[1]
		scale, bias := elems[float32](ins[1]), elems[float32](ins[2])
		if len(scale) != c || len(bias) != c {
			return nil, fmt.Errorf("scale %v and bias %v for %d channels", ins[1].Shape, ins[2].Shape, c)
		}
		out, d := newTensor[float32](tensor.F32, x.Shape)
		xv := elems[float32](x)
		plane := product(x.Shape[2:])
		for i := 0; i < x.Shape[0]*c; i++ {
			normalizeRow(d[i*plane:(i+1)*plane], xv[i*plane:(i+1)*plane], eps, func(j int) (float32, float32) {
				return scale[i%c], bias[i%c]
			})
		}
		return mem.result(out), nil
	}, nil
}

// normalizeRow writes (x-mean)/sqrt(var+eps)*scale+bias and returns mean and 1/stddev; the
// statistics are computed in float64.
func normalizeRow(dst, x []float32, eps float64, affine func(j int) (float32, float32)) (float64, float64) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var sq float64
	for _, v := range x {
		dv := float64(v) - mean
		sq += dv * dv
	}
	inv := 1 / math.Sqrt(sq/float64(len(x))+eps)
	for j, v := range x {
		s, b := affine(j)
		dst[j] = float32((float64(v)-mean)*inv)*s + b
	}
	return mean, inv
}

func buildLayerNorm(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 3), b.dtypesOf(0, 3, tensor.F32)); err != nil {
		return nil, err
	}
	axis := b.attrInt("axis", -1)
	eps := float64(b.attrFloat("epsilon", 1e-5))
	if st := b.attrInt("stash_type", 1); st != 1 {
		return nil, b.unsupported("stash_type=%d", st)
	}
	b.setOut(0, tensor.F32, b.in(0).Shape)
	var stat []int
	if s := b.in(0).Shape; s != nil {
		ax, err := normAxis(axis, len(s))
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		stat = onesFrom(nil, s, ax)
	}
	b.setOut(1, tensor.F32, stat)
	b.setOut(2, tensor.F32, stat)
	nOut := len(b.n.Outputs)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		inner := product(x.Shape[ax:])
		rows := product(x.Shape[:ax])
		norm := x.Shape[ax:]
		scaleT, err := broadcastParam(ins[1], norm, "scale")
		if err != nil {
			return nil, err
		}
		scale := elems[float32](scaleT)
		var bias []float32
		if len(ins) > 2 && ins[2] != nil {
			bt, err := broadcastParam(ins[2], norm, "bias")
			if err != nil {
				return nil, err
			}
			bias = elems[float32](bt)
		}
		out, d := newTensorIn[float32](mem, tensor.F32, x.Shape, false)
		var meanT, invT *tensor.Tensor
		var mean, inv []float32
		if nOut > 1 {
			meanT, mean = newTensorIn[float32](mem, tensor.F32, onesFrom(mem, x.Shape, ax), false)
			invT, inv = newTensorIn[float32](mem, tensor.F32, onesFrom(mem, x.Shape, ax), false)
		}
		xv := elems[float32](x)
		for r := 0; r < rows; r++ {
			m, s := normalizeRow(d[r*inner:(r+1)*inner], xv[r*inner:(r+1)*inner], eps, func(j int) (float32, float32) {
				if bias == nil {
					return scale[j], 0
				}
				return scale[j], bias[j]
			})
			if mean != nil {
				mean[r], inv[r] = float32(m), float32(s)
			}
		}
		if nOut <= 1 {
			return mem.result(out), nil
		}
		return []*tensor.Tensor{out, meanT, invT}[:nOut], nil
	}, nil
}

// onesFrom is s with dims ax.. set to 1 (LayerNorm's Mean and InvStdDev, a global pool's
// output), in the node's temporary ints: newTensorIn copies the shape it is given.
func onesFrom(mem *arena, s []int, ax int) []int {
	o := mem.ints(len(s))
	copy(o, s)
	for i := ax; i < len(o); i++ {
		o[i] = 1
	}
	return o
}

// broadcastParam broadcasts LayerNorm's scale or bias t to the normalized shape norm.
func broadcastParam(t *tensor.Tensor, norm []int, what string) (*tensor.Tensor, error) {
	s, err := broadcastShapes(t.Shape, norm)
	if err != nil || !slices.Equal(s, norm) {
		return nil, fmt.Errorf("%s %v does not broadcast to %v", what, t.Shape, norm)
	}
	if t.Numel() == product(norm) {
		return t, nil // at most leading ones added: the elements are already in place
	}
	return broadcastTo(t, norm), nil
}

func softmaxOp(op string) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32)); err != nil {
			return nil, err
		}
		// Before opset 13 the input is flattened to 2-D at axis (default 1); from 13 on the op
		// runs along one axis (default -1).
		legacy := b.opset < 13
		def := int64(-1)
		if legacy {
			def = 1
		}
		axis := b.attrInt("axis", def)
		b.setOut(0, tensor.F32, b.in(0).Shape)
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := ins[0]
			rank := len(x.Shape)
			if rank == 0 {
				x = reshaped(x, []int{1})
				rank = 1
			}
			ax, err := normAxis(axis, rank)
			if err != nil {
				return nil, err
			}
			var outer, n, inner int
			if legacy {
				outer, n, inner = product(x.Shape[:ax]), product(x.Shape[ax:]), 1
			} else {
				outer, n, inner = product(x.Shape[:ax]), x.Shape[ax], product(x.Shape[ax+1:])
			}
			out, d := newTensorIn[float32](mem, tensor.F32, ins[0].Shape, false)
			xv := elems[float32](x)
			forRange(mem, outer, outer*n*inner*8, softmaxArgs{mem: mem, op: op, d: d, xv: xv, n: n, inner: inner}, softmaxArgs.run)
			return mem.result(out), nil
		}, nil
	}
}

// softmaxArgs is a softmax kernel's work, run over a range of its outer index.
type softmaxArgs struct {
	mem      *arena
	op       string
	d, xv    []float32
	n, inner int
}

func (a softmaxArgs) run(lo, hi int) {
	line := a.mem.getScratch(2 * a.n)
	buf := float64s(line)
	for o := lo; o < hi; o++ {
		for in := 0; in < a.inner; in++ {
			softmaxLine(a.op, a.d, a.xv, buf, o*a.n*a.inner+in, a.inner)
		}
	}
	a.mem.putScratch(line)
}

// softmaxLine computes one softmax (or log-softmax, hardmax) over len(buf) elements starting at
// base, step apart, in float64.
func softmaxLine(op string, d, xv []float32, buf []float64, base, step int) {
	n := len(buf)
	mx := math.Inf(-1)
	arg := 0
	for j := 0; j < n; j++ {
		v := float64(xv[base+j*step])
		buf[j] = v
		if v > mx {
			mx, arg = v, j
		}
	}
	if op == "Hardmax" {
		for j := 0; j < n; j++ {
			d[base+j*step] = 0
		}
		d[base+arg*step] = 1
		return
	}
	var sum float64
	for j := range buf {
		buf[j] = math.Exp(buf[j] - mx)
		sum += buf[j]
	}
	if op == "LogSoftmax" {
		ls := math.Log(sum)
		for j := range buf {
			d[base+j*step] = float32(float64(xv[base+j*step]) - mx - ls)
		}
		return
	}
	for j := range buf {
		d[base+j*step] = float32(buf[j] / sum)
	}
}
