package graph

import (
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Gemm"] = buildGemm
	ops["MatMul"] = buildMatMul
	ops["Conv"] = buildConv
}

func buildGemm(b *builder) (kernel, error) {
	if err := b.arity(2, 3, 1, 1); err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		if err := b.dtypes(i, tensor.F32); err != nil {
			return nil, err
		}
	}
	alpha, beta := b.attrFloat("alpha", 1), b.attrFloat("beta", 1)
	transA, transB := b.attrInt("transA", 0) != 0, b.attrInt("transB", 0) != 0
	b.ignoreAttrs("broadcast") // opset < 7 only; C always broadcasts since
	b.setOut(0, tensor.F32, []int{-1, -1})
	if sa, sb := b.in(0).Shape, b.in(1).Shape; sa != nil && sb != nil {
		if len(sa) != 2 || len(sb) != 2 {
			return nil, b.errorf("A %v and B %v must be matrices", sa, sb)
		}
		m, ka := sa[0], sa[1]
		if transA {
			m, ka = ka, m
		}
		kb, n := sb[0], sb[1]
		if transB {
			kb, n = n, kb
		}
		if ka >= 0 && kb >= 0 && ka != kb {
			return nil, b.errorf("A %v (transA=%v) and B %v (transB=%v) have inner dims %d and %d", sa, transA, sb, transB, ka, kb)
		}
		b.setOut(0, tensor.F32, []int{m, n})
	}
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		a, bt := ins[0], ins[1]
		if len(a.Shape) != 2 || len(bt.Shape) != 2 {
			return nil, fmt.Errorf("A %v and B %v must be matrices", a.Shape, bt.Shape)
		}
		m, k := a.Shape[0], a.Shape[1]
		am := matrix{data: elems[float32](a), ld: k, trans: transA}
		if transA {
			m, k = k, m
		}
		k2, n := bt.Shape[0], bt.Shape[1]
		bm := matrix{data: elems[float32](bt), ld: n, trans: transB}
		if transB {
			k2, n = n, k2
		}
		if k != k2 {
			return nil, fmt.Errorf("A %v (transA=%v) and B %v (transB=%v) do not multiply", a.Shape, transA, bt.Shape, transB)
		}
		out, d := newTensor[float32](tensor.F32, []int{m, n})
		var c *tensor.Tensor
		if len(ins) > 2 && ins[2] != nil && beta != 0 {
			shape, err := broadcastShapes(ins[2].Shape, []int{m, n})
			if err != nil || !sameShape(shape, []int{m, n}) {
				return nil, fmt.Errorf("C %v does not broadcast to [%d %d]", ins[2].Shape, m, n)
			}
			c = broadcastTo(ins[2], []int{m, n})
		}
		if alpha == 1 && c != nil {
			cv := elems[float32](c)
			for i := range d {
				d[i] = beta * cv[i]
			}
			sgemmTo(d, n, am, bm, m, n, k)
			return []*tensor.Tensor{out}, nil
		}
		sgemmTo(d, n, am, bm, m, n, k)
		if alpha != 1 {
			for i := range d {
				d[i] *= alpha
			}
		}
		if c != nil {
			for i, v := range elems[float32](c) {
				d[i] += beta * v
			}
		}
		return []*tensor.Tensor{out}, nil
	}, nil
}

func buildMatMul(b *builder) (kernel, error) {
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	if err := b.dtypes(0, tensor.F32); err != nil {
		return nil, err
	}
	if err := b.dtypes(1, tensor.F32); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.F32, nil)
	if sa, sb := b.in(0).Shape, b.in(1).Shape; sa != nil && sb != nil {
		s, err := matmulShape(sa, sb)
		if err != nil {
			return nil, b.errorf("%v", err)
		}
		b.setOut(0, tensor.F32, s)
	}
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return single(matmul(ins[0], ins[1]))
	}, nil
}

// matmulShape applies numpy matmul rules (1-D operands promoted, batch dims broadcast); -1
// marks unknown dims.
func matmulShape(sa, sb []int) ([]int, error) {
	if len(sa) == 0 || len(sb) == 0 {
		return nil, fmt.Errorf("matmul of a scalar")
	}
	a, b := sa, sb
	if len(a) == 1 {
		a = []int{1, a[0]}
	}
	if len(b) == 1 {
		b = []int{b[0], 1}
	}
	ka, kb := a[len(a)-1], b[len(b)-2]
	if ka >= 0 && kb >= 0 && ka != kb {
		return nil, fmt.Errorf("matmul of %v and %v: inner dims %d and %d differ", sa, sb, ka, kb)
	}
	batch, err := inferBroadcast(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, err
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if len(sa) == 1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if len(sb) == 1 {
		out = out[:len(out)-1]
	}
	return out, nil
}

func matmul(x, y *tensor.Tensor) (*tensor.Tensor, error) {
	if x.DType != tensor.F32 || y.DType != tensor.F32 {
		return nil, fmt.Errorf("MatMul of %v and %v (float32 expected)", x.DType, y.DType)
	}
	sa, sb := x.Shape, y.Shape
	outShape, err := matmulShape(sa, sb)
	if err != nil {
		return nil, err
	}
	if len(sa) == 1 {
		sa = []int{1, sa[0]}
	}
	if len(sb) == 1 {
		sb = []int{sb[0], 1}
	}
	m, k, n := sa[len(sa)-2], sa[len(sa)-1], sb[len(sb)-1]
	batch, err := broadcastShapes(sa[:len(sa)-2], sb[:len(sb)-2])
	if err != nil {
		return nil, err
	}
	out, d := newTensor[float32](tensor.F32, outShape)
	av, bv := elems[float32](x), elems[float32](y)
	nb := product(batch)
	// A batch of one A matrix against many B's: fold the batch into the rows of one GEMM.
	if product(sa[:len(sa)-2]) == 1 && product(sb[:len(sb)-2]) == 1 {
		sgemmTo(d, n, matrix{data: av, ld: k}, matrix{data: bv, ld: n}, m, n, k)
		return out, nil
	}
	if product(sb[:len(sb)-2]) == 1 && len(sa) >= len(sb) {
		sgemmTo(d, n, matrix{data: av, ld: k}, matrix{data: bv, ld: n}, nb*m, n, k)
		return out, nil
	}
	strideA := broadcastStrides(sa[:len(sa)-2], batch)
	strideB := broadcastStrides(sb[:len(sb)-2], batch)
	forEachIndex(batch, func(bi int, idx []int) {
		oa, ob := 0, 0
		for i, v := range idx {
			oa += v * strideA[i]
			ob += v * strideB[i]
		}
		sgemmTo(d[bi*m*n:(bi+1)*m*n], n, matrix{data: av[oa*m*k : (oa+1)*m*k], ld: k},
			matrix{data: bv[ob*k*n : (ob+1)*k*n], ld: n}, m, n, k)
	})
	return out, nil
}

// forEachIndex calls f with the flat position and the multi-index of every element of shape.
func forEachIndex(shape []int, f func(flat int, idx []int)) {
	n := product(shape)
	idx := make([]int, len(shape))
	for i := 0; i < n; i++ {
		f(i, idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// convParams holds a Conv's attributes resolved for one input shape.
type convParams struct {
	kernel, strides, dilations, padBegin, padEnd, out []int
}

// spatialParams resolves kernel, strides, dilations, pads and output size for pooling and
// convolution (auto_pad included). ceil selects ceil_mode output sizes.
func spatialParams(in, kernel []int, strides, dilations, pads []int64, autoPad string, ceil bool) (convParams, error) {
	nd := len(in)
	p := convParams{kernel: kernel, strides: make([]int, nd), dilations: make([]int, nd), padBegin: make([]int, nd), padEnd: make([]int, nd), out: make([]int, nd)}
	if len(kernel) != nd {
		return p, fmt.Errorf("kernel %v for %d spatial dims", kernel, nd)
	}
	if (strides != nil && len(strides) != nd) || (dilations != nil && len(dilations) != nd) || (pads != nil && len(pads) != 2*nd) {
		return p, fmt.Errorf("strides %v, dilations %v or pads %v do not fit %d spatial dims", strides, dilations, pads, nd)
	}
	for i := range in {
		p.strides[i], p.dilations[i] = 1, 1
		if strides != nil {
			p.strides[i] = int(strides[i])
		}
		if dilations != nil {
			p.dilations[i] = int(dilations[i])
		}
		if p.strides[i] <= 0 || p.dilations[i] <= 0 || kernel[i] <= 0 {
			return p, fmt.Errorf("non-positive kernel %v, strides %v or dilations %v", kernel, strides, dilations)
		}
		ext := (kernel[i]-1)*p.dilations[i] + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o := (in[i] + p.strides[i] - 1) / p.strides[i]
			total := max(0, (o-1)*p.strides[i]+ext-in[i])
			if autoPad == "SAME_UPPER" {
				p.padBegin[i] = total / 2
			} else {
				p.padBegin[i] = total - total/2
			}
			p.padEnd[i] = total - p.padBegin[i]
			p.out[i] = o
			continue
		case "VALID":
		case "NOTSET", "":
			if pads != nil {
				p.padBegin[i], p.padEnd[i] = int(pads[i]), int(pads[i+nd])
			}
		default:
			return p, fmt.Errorf("auto_pad=%q", autoPad)
		}
		span := in[i] + p.padBegin[i] + p.padEnd[i] - ext
		if span < 0 {
			return p, fmt.Errorf("kernel %v (dilations %v) is larger than the padded input %v", kernel, p.dilations, in)
		}
		if ceil {
			p.out[i] = (span+p.strides[i]-1)/p.strides[i] + 1
			// The last window must start inside the input or its left padding.
			if (p.out[i]-1)*p.strides[i] >= in[i]+p.padBegin[i] {
				p.out[i]--
			}
		} else {
			p.out[i] = span/p.strides[i] + 1
		}
	}
	return p, nil
}

func buildConv(b *builder) (kernel, error) {
	if err := b.arity(2, 3, 1, 1); err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		if err := b.dtypes(i, tensor.F32); err != nil {
			return nil, err
		}
	}
	autoPad := b.attrString("auto_pad", "NOTSET")
	switch autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return nil, b.unsupported("auto_pad=%q", autoPad)
	}
	group := int(b.attrInt("group", 1))
	if group <= 0 {
		return nil, b.errorf("group=%d", group)
	}
	kattr, hasK := b.attrInts("kernel_shape")
	strides, _ := b.attrInts("strides")
	dilations, _ := b.attrInts("dilations")
	pads, _ := b.attrInts("pads")
	resolve := func(x, w []int) (convParams, error) {
		if len(x) < 3 || len(w) != len(x) {
			return convParams{}, fmt.Errorf("input %v and weight %v: need [N C spatial...] and [M C/group k...]", x, w)
		}
		if len(x) > 4 {
			return convParams{}, fmt.Errorf("%d-D convolution (1-D and 2-D are supported)", len(x)-2)
		}
		if x[1] >= 0 && x[1] != w[1]*group {
			return convParams{}, fmt.Errorf("input has %d channels, weight %v with group %d wants %d", x[1], w, group, w[1]*group)
		}
		if w[0]%group != 0 {
			return convParams{}, fmt.Errorf("weight %v: %d output channels do not split into %d groups", w, w[0], group)
		}
		k := w[2:]
		if hasK {
			if len(kattr) != len(k) {
				return convParams{}, fmt.Errorf("kernel_shape %v for weight %v", kattr, w)
			}
			for i, v := range kattr {
				if int(v) != k[i] {
					return convParams{}, fmt.Errorf("kernel_shape %v disagrees with weight %v", kattr, w)
				}
			}
		}
		return spatialParams(x[2:], k, strides, dilations, pads, autoPad, false)
	}
	b.setOut(0, tensor.F32, nil)
	if x, w := b.in(0).Shape, b.in(1).Shape; x != nil && w != nil {
		if len(x) > 4 {
			return nil, b.unsupported("%d-D convolution (1-D and 2-D are supported)", len(x)-2)
		}
		if !containsNeg(w) && !containsNeg(x[1:]) {
			p, err := resolve(x, w)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, tensor.F32, append([]int{x[0], w[0]}, p.out...))
		}
	}
	return func(ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, w := ins[0], ins[1]
		p, err := resolve(x.Shape, w.Shape)
		if err != nil {
			return nil, err
		}
		var bias []float32
		if len(ins) > 2 && ins[2] != nil {
			if ins[2].Numel() != w.Shape[0] {
				return nil, fmt.Errorf("bias %v for %d output channels", ins[2].Shape, w.Shape[0])
			}
			bias = elems[float32](ins[2])
		}
		return []*tensor.Tensor{conv2d(x, w, bias, p, group)}, nil
	}, nil
}

// conv2d computes a grouped convolution through im2col and sgemm; 1-D convolutions run as 2-D
// with a height of one.
func conv2d(x, w *tensor.Tensor, bias []float32, p convParams, group int) *tensor.Tensor {
	if len(p.kernel) == 1 {
		one := func(v []int, fill int) []int { return []int{fill, v[0]} }
		p = convParams{kernel: one(p.kernel, 1), strides: one(p.strides, 1), dilations: one(p.dilations, 1),
			padBegin: one(p.padBegin, 0), padEnd: one(p.padEnd, 0), out: one(p.out, 1)}
		x = reshaped(x, []int{x.Shape[0], x.Shape[1], 1, x.Shape[2]})
	}
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	m := w.Shape[0]
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	cg, mg := c/group, m/group
	kdim := cg * kh * kw
	outShape := append([]int{n, m}, p.out...)
	if len(outShape) == 4 && len(w.Shape) == 3 {
		outShape = []int{n, m, ow}
	}
	out, d := newTensor[float32](tensor.F32, outShape)
	xv, wv := elems[float32](x), elems[float32](w)
	if cg == 1 && mg == 1 {
		depthwiseConv2d(d, xv, wv, bias, n, c, h, wd, p)
		return out
	}
	direct := kh == 1 && kw == 1 && p.strides[0] == 1 && p.strides[1] == 1 &&
		p.padBegin[0]+p.padBegin[1]+p.padEnd[0]+p.padEnd[1] == 0
	var col []float32
	if !direct {
		col = getBuf(kdim * oh * ow)
		defer putBuf(col)
	}
	plane := oh * ow
	for b := 0; b < n; b++ {
		for g := 0; g < group; g++ {
			src := xv[(b*c+g*cg)*h*wd : (b*c+(g+1)*cg)*h*wd]
			dst := d[(b*m+g*mg)*plane : (b*m+(g+1)*mg)*plane]
			if bias != nil {
				for oc := 0; oc < mg; oc++ {
					v := bias[g*mg+oc]
					row := dst[oc*plane : (oc+1)*plane]
					for i := range row {
						row[i] = v
					}
				}
			}
			bm := matrix{data: src, ld: plane}
			if !direct {
				im2col(col, src, cg, h, wd, p)
				bm = matrix{data: col, ld: plane}
			}
			sgemmTo(dst, plane, matrix{data: wv[g*mg*kdim : (g+1)*mg*kdim], ld: kdim}, bm, mg, plane, kdim)
		}
	}
	return out
}

// im2col writes col[(ci*kh+ki)*kw+kj][oy*ow+ox] = x[ci][oy*sh-pt+ki*dh][ox*sw-pl+kj*dw], zero
// outside the input. Channels are split across workers for large inputs.
func im2col(col, x []float32, c, h, w int, p convParams) {
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	sh, sw := p.strides[0], p.strides[1]
	dh, dw := p.dilations[0], p.dilations[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	parallelFor(c, c*kh*kw*oh*ow, func(c0, c1 int) {
		for ci := c0; ci < c1; ci++ {
			img := x[ci*h*w : (ci+1)*h*w]
			for ki := 0; ki < kh; ki++ {
				for kj := 0; kj < kw; kj++ {
					row := col[((ci*kh+ki)*kw+kj)*oh*ow : ((ci*kh+ki)*kw+kj+1)*oh*ow]
					// Output columns whose input column lies inside the image: [lo, hi).
					ix0 := kj*dw - pl
					lo, hi := validRange(ix0, sw, w, ow)
					for oy := 0; oy < oh; oy++ {
						iy := oy*sh - pt + ki*dh
						dst := row[oy*ow : (oy+1)*ow]
						if iy < 0 || iy >= h {
							clear(dst)
							continue
						}
						src := img[iy*w : (iy+1)*w]
						clear(dst[:lo])
						clear(dst[hi:])
						if sw == 1 {
							copy(dst[lo:hi], src[ix0+lo:ix0+hi])
							continue
						}
						ix := ix0 + lo*sw
						for ox := lo; ox < hi; ox++ {
							dst[ox] = src[ix]
							ix += sw
						}
					}
				}
			}
		}
	})
}

// validRange returns the outputs [lo, hi) of n whose input position start+o*step lies in
// [0, size).
func validRange(start, step, size, n int) (int, int) {
	lo := 0
	if start < 0 {
		lo = (-start + step - 1) / step
	}
	hi := 0
	if start < size {
		hi = (size-1-start)/step + 1
	}
	lo, hi = min(lo, n), min(hi, n)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// depthwiseConv2d computes a convolution with one input and one output channel per group
// directly, which im2col + GEMM would do as many tiny one-row products.
func depthwiseConv2d(d, xv, wv, bias []float32, n, c, h, w int, p convParams) {
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	sh, sw := p.strides[0], p.strides[1]
	dh, dw := p.dilations[0], p.dilations[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	parallelFor(n*c, n*c*kh*kw*oh*ow, func(p0, p1 int) {
		for plane := p0; plane < p1; plane++ {
			ch := plane % c
			img := xv[plane*h*w : (plane+1)*h*w]
			dst := d[plane*oh*ow : (plane+1)*oh*ow]
			b := float32(0)
			if bias != nil {
				b = bias[ch]
			}
			for i := range dst {
				dst[i] = b
			}
			kern := wv[ch*kh*kw : (ch+1)*kh*kw]
			for ki := 0; ki < kh; ki++ {
				for kj := 0; kj < kw; kj++ {
					wt := kern[ki*kw+kj]
					ix0 := kj*dw - pl
					lo, hi := validRange(ix0, sw, w, ow)
					for oy := 0; oy < oh; oy++ {
						iy := oy*sh - pt + ki*dh
						if iy < 0 || iy >= h {
							continue
						}
						src := img[iy*w : (iy+1)*w]
						row := dst[oy*ow : (oy+1)*ow]
						ix := ix0 + lo*sw
						for ox := lo; ox < hi; ox++ {
							row[ox] += wt * src[ix]
							ix += sw
						}
					}
				}
			}
		}
	})
}
