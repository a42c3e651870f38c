package graph

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Gemm"] = buildGemm
	ops["MatMul"] = buildMatMul
	ops["Conv"] = buildConv
}

func buildGemm(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypesOf(0, 3, tensor.F32)); err != nil {
		return nil, err
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
	constB, packedB := b.prepackB(1, transB)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		a, bt := ins[0], ins[1]
		if len(a.Shape) != 2 || len(bt.Shape) != 2 {
			return nil, fmt.Errorf("A %v and B %v must be matrices", a.Shape, bt.Shape)
		}
		m, k := a.Shape[0], a.Shape[1]
		am := sgemm.Matrix{Data: elems[float32](a), LD: k, Trans: transA}
		if transA {
			m, k = k, m
		}
		k2, n := bt.Shape[0], bt.Shape[1]
		bm := sgemm.Matrix{Data: elems[float32](bt), LD: n, Trans: transB}
		if transB {
			k2, n = n, k2
		}
		if k != k2 {
			return nil, fmt.Errorf("A %v (transA=%v) and B %v (transB=%v) do not multiply", a.Shape, transA, bt.Shape, transB)
		}
		var c *tensor.Tensor
		if len(ins) > 2 && ins[2] != nil && beta != 0 {
			c = ins[2]
			if !broadcastsToMatrix(c.Shape, m, n) {
				return nil, fmt.Errorf("C %v does not broadcast to [%d %d]", c.Shape, m, n)
			}
		}
		out, d := newTensorIn[float32](mem, tensor.F32, []int{m, n}, c == nil || alpha != 1)
		ops := sgemm.Operands{A: am, B: bm}
		if bt == constB {
			ops.PackedB = packedB
		}
		if alpha == 1 && c != nil {
			addBroadcast(d, elems[float32](c), c.Shape, m, n, beta, false)
			sgemm.Run(gemmScratch{mem}, d, n, ops, m, n, k, 0)
			return mem.result(out), nil
		}
		sgemm.Run(gemmScratch{mem}, d, n, ops, m, n, k, 0)
		if alpha != 1 {
			for i := range d {
				d[i] *= alpha
			}
		}
		if c != nil {
			addBroadcast(d, elems[float32](c), c.Shape, m, n, beta, true)
		}
		return mem.result(out), nil
	}, nil
}

// broadcastsToMatrix reports whether shape broadcasts to [m n] (Gemm's C).
func broadcastsToMatrix(shape []int, m, n int) bool {
	switch len(shape) {
	case 0:
		return true
	case 1:
		return shape[0] == 1 || shape[0] == n
	case 2:
		return (shape[0] == 1 || shape[0] == m) && (shape[1] == 1 || shape[1] == n)
	}
	return false
}

// addBroadcast sets the m×n matrix d to beta·c, or adds beta·c to it when add is set, with
// c (of the given shape) broadcast to [m n] without being materialized.
func addBroadcast(d, c []float32, shape []int, m, n int, beta float32, add bool) {
	rowStride, colStride := 0, 0 // c's strides along d's rows and columns
	switch len(shape) {
	case 1:
		if shape[0] != 1 {
			colStride = 1
		}
	case 2:
		if shape[0] != 1 {
			rowStride = shape[1]
		}
		if shape[1] != 1 {
			colStride = 1
		}
	}
	for i := 0; i < m; i++ {
		row := d[i*n : (i+1)*n]
		src := c[i*rowStride:]
		switch {
		case colStride == 1 && add:
			for j, v := range src[:n] {
				row[j] += beta * v
			}
		case colStride == 1:
			for j, v := range src[:n] {
				row[j] = beta * v
			}
		case add:
			v := beta * src[0]
			for j := range row {
				row[j] += v
			}
		default:
			v := beta * src[0]
			for j := range row {
				row[j] = v
			}
		}
	}
}

func buildMatMul(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypes(0, tensor.F32), b.dtypes(1, tensor.F32)); err != nil {
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
	constB, packedB := b.prepackB(1, false)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var pb []float32
		if ins[1] == constB {
			pb = packedB
		}
		return mem.single(matmul(mem, ins[0], ins[1], pb))
	}, nil
}

// prepackB packs input i when it is a constant float32 matrix (read transposed with trans),
// for a GEMM's B operand; it returns the constant, which the kernel compares with its input
// to use the panels, and the panels.
func (b *builder) prepackB(i int, trans bool) (*tensor.Tensor, []float32) {
	c := b.constIn(i)
	if c == nil || c.DType != tensor.F32 || len(c.Shape) != 2 || !b.prepackable(c.Numel()) {
		return nil, nil
	}
	k, n := c.Shape[0], c.Shape[1]
	if trans {
		k, n = n, k
	}
	return c, sgemm.PrepackB(sgemm.Matrix{Data: elems[float32](c), LD: c.Shape[1], Trans: trans}, n, k)
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

// matmul multiplies x and y with numpy broadcasting; packedY, when not nil, holds y (a
// matrix) packed in advance.
func matmul(mem *arena, x, y *tensor.Tensor, packedY []float32) (*tensor.Tensor, error) {
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
	out, d := newTensorIn[float32](mem, tensor.F32, outShape, true)
	av, bv := elems[float32](x), elems[float32](y)
	nb := product(batch)
	// One B matrix: fold A's batch into the rows of one GEMM.
	if product(sb[:len(sb)-2]) == 1 && (len(sa) >= len(sb) || product(sa[:len(sa)-2]) == 1) {
		ops := sgemm.Operands{A: sgemm.Matrix{Data: av, LD: k}, B: sgemm.Matrix{Data: bv, LD: n}}
		if len(y.Shape) == 2 {
			ops.PackedB = packedY
		}
		sgemm.Run(gemmScratch{mem}, d, n, ops, product(sa[:len(sa)-2])*m, n, k, 0)
		return out, nil
	}
	strideA := broadcastStridesIn(mem, sa[:len(sa)-2], batch)
	strideB := broadcastStridesIn(mem, sb[:len(sb)-2], batch)
	offA, offB := mem.ints(nb), mem.ints(nb)
	forEachIndex(batch, func(bi int, idx []int) {
		for i, v := range idx {
			offA[bi] += v * strideA[i]
			offB[bi] += v * strideB[i]
		}
	})
	// Many small products (attention heads) run one per goroutine; fewer products than
	// cores run one after the other, each split over the cores.
	perProduct := 0
	if nb >= mem.maxWorkers() {
		perProduct = 1
	}
	forRange(mem, nb, nb*m*n*k*perProduct, batchedProducts{mem: mem, d: d, av: av, bv: bv, offA: offA, offB: offB,
		m: m, n: n, k: k, perProduct: perProduct}, batchedProducts.run)
	return out, nil
}

// batchedProducts is matmul's broadcast batch of products, run over a range of the batch.
type batchedProducts struct {
	mem                 *arena
	d, av, bv           []float32
	offA, offB          []int // per product: the A and B matrix it reads
	m, n, k, perProduct int
}

func (p batchedProducts) run(lo, hi int) {
	m, n, k := p.m, p.n, p.k
	for bi := lo; bi < hi; bi++ {
		oa, ob := p.offA[bi], p.offB[bi]
		sgemm.Run(gemmScratch{p.mem}, p.d[bi*m*n:(bi+1)*m*n], n, sgemm.Operands{
			A: sgemm.Matrix{Data: p.av[oa*m*k : (oa+1)*m*k], LD: k},
			B: sgemm.Matrix{Data: p.bv[ob*k*n : (ob+1)*k*n], LD: n},
		}, m, n, k, p.perProduct)
	}
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
func spatialParams(mem *arena, in, kernel []int, strides, dilations, pads []int64, autoPad string, ceil bool) (convParams, error) {
	nd := len(in)
	v := mem.ints(5 * nd) // the five per-dim lists: the node's temporary ints in a Run
	p := convParams{kernel: kernel, strides: v[:nd:nd], dilations: v[nd : 2*nd : 2*nd], padBegin: v[2*nd : 3*nd : 3*nd], padEnd: v[3*nd : 4*nd : 4*nd], out: v[4*nd:]}
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

// convAttrs are a Conv node's attributes, read once at load.
type convAttrs struct {
	autoPad                  string
	group                    int
	kernel                   []int64 // kernel_shape, checked against the weight when hasKernel
	hasKernel                bool
	strides, dilations, pads []int64
}

func readConvAttrs(b *builder) (convAttrs, error) {
	a := convAttrs{autoPad: b.attrString("auto_pad", "NOTSET")}
	switch a.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return a, b.unsupported("auto_pad=%q", a.autoPad)
	}
	a.group = int(b.attrInt("group", 1))
	if a.group <= 0 {
		return a, b.errorf("group=%d", a.group)
	}
	a.kernel, a.hasKernel = b.attrInts("kernel_shape")
	a.strides, _ = b.attrInts("strides")
	a.dilations, _ = b.attrInts("dilations")
	a.pads, _ = b.attrInts("pads")
	return a, nil
}

// params checks an input shape x [N C spatial...] against a weight shape w [M C/group k...]
// and resolves the convolution's window for them.
func (a convAttrs) params(mem *arena, x, w []int) (convParams, error) {
	group := a.group
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
	if a.hasKernel {
		if len(a.kernel) != len(k) {
			return convParams{}, fmt.Errorf("kernel_shape %v for weight %v", a.kernel, w)
		}
		for i, v := range a.kernel {
			if int(v) != k[i] {
				return convParams{}, fmt.Errorf("kernel_shape %v disagrees with weight %v", a.kernel, w)
			}
		}
	}
	return spatialParams(mem, x[2:], k, a.strides, a.dilations, a.pads, a.autoPad, false)
}

func buildConv(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypesOf(0, 3, tensor.F32)); err != nil {
		return nil, err
	}
	a, err := readConvAttrs(b)
	if err != nil {
		return nil, err
	}
	b.setOut(0, tensor.F32, nil)
	if x, w := b.in(0).Shape, b.in(1).Shape; x != nil && w != nil {
		if len(x) > 4 {
			return nil, b.unsupported("%d-D convolution (1-D and 2-D are supported)", len(x)-2)
		}
		if !containsNeg(w) && !containsNeg(x[1:]) {
			p, err := a.params(nil, x, w)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, tensor.F32, append([]int{x[0], w[0]}, p.out...))
		}
	}
	constW, packedW := b.prepackConvWeights(a.group)
	b.fused = func(mem *arena, ins []*tensor.Tensor, ep epilogue) ([]*tensor.Tensor, bool, error) {
		x, w := ins[0], ins[1]
		p, err := a.params(mem, x.Shape, w.Shape)
		if err != nil {
			return nil, false, err
		}
		var bias []float32
		if len(ins) > 2 && ins[2] != nil {
			if ins[2].Numel() != w.Shape[0] {
				return nil, false, fmt.Errorf("bias %v for %d output channels", ins[2].Shape, w.Shape[0])
			}
			bias = elems[float32](ins[2])
		}
		var pw [][]float32
		if w == constW {
			pw = packedW
		}
		out, applied := conv2d(mem, x, w, bias, p, a.group, pw, ep)
		return mem.result(out), applied, nil
	}
	run := b.fused
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		outs, _, err := run(mem, ins, epilogue{})
		return outs, err
	}, nil
}

// prepackConvWeights packs a constant Conv weight as the A operand of each group's GEMM
// (mg rows of C/group·kh·kw); depthwise weights, which skip the GEMM, are left alone.
func (b *builder) prepackConvWeights(group int) (*tensor.Tensor, [][]float32) {
	w := b.constIn(1)
	if w == nil || w.DType != tensor.F32 || len(w.Shape) < 3 || w.Shape[0]%group != 0 {
		return nil, nil
	}
	mg, kdim := w.Shape[0]/group, product(w.Shape[1:])
	if (mg == 1 && w.Shape[1] == 1) || !b.prepackable(w.Numel()) {
		return nil, nil
	}
	wv := elems[float32](w)
	packed := make([][]float32, group)
	for g := range packed {
		packed[g] = sgemm.PrepackA(sgemm.Matrix{Data: wv[g*mg*kdim : (g+1)*mg*kdim], LD: kdim}, mg, kdim)
	}
	return w, packed
}

// conv2d computes a grouped convolution through im2col and sgemm (1×1 stride-1 unpadded
// convolutions read the input as B directly); 1-D convolutions run as 2-D with a height of
// one. packedW, when not nil, holds each group's weights packed as sgemm's A. With a batch of
// at least one image per core, images are split across workers, each running its GEMMs on
// one goroutine; otherwise each GEMM is split. It applies ep to the output (reporting
// that it did) unless ep's residual is not a float32 of the output's shape, or the
// convolution is depthwise and ep has a residual (depthwise applies the activation only).
func conv2d(mem *arena, x, w *tensor.Tensor, bias []float32, p convParams, group int, packedW [][]float32, ep epilogue) (*tensor.Tensor, bool) {
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
	outShape := mem.ints(2 + len(p.out))
	outShape[0], outShape[1] = n, m
	copy(outShape[2:], p.out)
	if len(outShape) == 4 && len(w.Shape) == 3 { // a 1-D convolution, run as 2-D
		outShape = outShape[:3]
		outShape[2] = ow
	}
	xv, wv := elems[float32](x), elems[float32](w)
	if cg == 1 && mg == 1 {
		out, d := newTensorIn[float32](mem, tensor.F32, outShape, bias == nil)
		applied := ep.residual == nil // the activation only
		if !applied {
			ep = epilogue{}
		}
		depthwiseConv2d(mem, d, xv, wv, bias, n, c, h, wd, p, ep.act)
		return out, applied
	}
	// The GEMMs initialize every element (sgemm.Operands.Fill), so the output is not zeroed.
	out, d := newTensorIn[float32](mem, tensor.F32, outShape, false)
	c2 := convImages{mem: mem, xv: xv, wv: wv, d: d, bias: bias, packedW: packedW, p: p, group: group,
		c: c, h: h, wd: wd, m: m, cg: cg, mg: mg, kdim: kdim, plane: oh * ow}
	applied := ep.residual == nil || (ep.residual.DType == tensor.F32 && slices.Equal(ep.residual.Shape, outShape) && ep.residual.IsContiguous())
	if applied {
		c2.act = ep.act
		if ep.residual != nil {
			c2.residual = elems[float32](ep.residual)
		}
	}
	c2.direct = kh == 1 && kw == 1 && p.strides[0] == 1 && p.strides[1] == 1 &&
		p.padBegin[0]+p.padBegin[1]+p.padEnd[0]+p.padEnd[1] == 0
	workers := mem.maxWorkers()
	split := workers > 1 && n >= workers && 2*n*m*c2.plane*kdim >= sgemm.ParallelFlops
	if split {
		c2.gemmWorkers = 1
	}
	// Decided here, once: the Runner's worker count may change during the Run (SetWorkers).
	if c2.rows = c2.useRows(); c2.rows {
		c2.offs = mem.ints(kdim)
		rowsOffsets(c2.offs, p, cg, h, wd)
	}
	if c2.direct && packedW != nil && sgemm.RowsSupported(mg) {
		// B is the input planes, read in place (sgemm.Operands.BRowOffsets).
		c2.offs = mem.ints(kdim)
		for kk := range c2.offs {
			c2.offs[kk] = kk * c2.plane
		}
	}
	if split {
		runRange(workers, n, c2, convImages.run)
		return out, applied
	}
	c2.run(0, n)
	return out, applied
}

// convImages is conv2d's work, run over a range of the batch's images: each image's GEMMs
// use at most gemmWorkers goroutines (0: as many as the Run allows).
type convImages struct {
	mem                                     *arena
	xv, wv, d, bias                         []float32
	packedW                                 [][]float32
	p                                       convParams
	group, c, h, wd, m, cg, mg, kdim, plane int
	direct                                  bool
	gemmWorkers                             int
	chunk                                   bool  // image runs its GEMMs through shiftedGEMM
	rows                                    bool  // image runs its GEMMs through rowsGEMM
	offs                                    []int // rowsGEMM's B rows (rowsOffsets), or direct's
	// residual (laid out like d, or nil) is added to the output, then relu applied: the
	// fused epilogue (sgemm.Operands.Residual and Relu).
	residual []float32
	act      sgemm.Activation
}

func (ci convImages) run(b0, b1 int) {
	if q := ci.imagesPerGEMM(b1 - b0); q > 1 {
		ci.runJoined(b0, b1, q)
		return
	}
	// Decided once: the Runner's worker count may change during the Run (SetWorkers).
	ci.chunk = ci.chunked()
	colSize := ci.kdim * ci.plane
	switch {
	case ci.direct:
		colSize = 0
	case ci.rows:
		padLen, tmpLen, _ := ci.rowsSizes()
		colSize = padLen + tmpLen
	case ci.chunk:
		colSize = sgemm.PackedBSize(min(convChunk, ci.plane), ci.kdim, sgemm.PackedAPanelWidth(ci.mg))
	case ci.packedW != nil:
		colSize = sgemm.PackedBSize(ci.plane, ci.kdim, sgemm.PackedAPanelWidth(ci.mg))
	}
	col := ci.mem.getScratch(colSize)
	for b := b0; b < b1; b++ {
		ci.image(b, col)
	}
	ci.mem.putScratch(col)
}

// imagesPerGEMM is the number of images (up to 8 of the n to run) whose columns one GEMM
// takes side by side: 1 but for small planes (14×14, 7×7) with weights packed in advance,
// whose last panel would otherwise be mostly padding (49 columns are two 32-wide panels),
// where it is the count that pads least.
func (ci *convImages) imagesPerGEMM(n int) int {
	if ci.packedW == nil || ci.group != 1 || ci.direct || ci.plane >= 256 {
		return 1
	}
	nr := sgemm.PackedAPanelWidth(ci.mg)
	best, bestWaste := 1, 1.0
	for q := 1; q <= min(n, 8); q++ {
		cols := q * ci.plane
		if waste := float64((cols+nr-1)/nr*nr-cols) / float64(cols); waste < bestWaste-1e-9 {
			best, bestWaste = q, waste
		}
	}
	return best
}

// runJoined convolves images b0..b1, q at a time: their im2col columns side by side in one
// packed B, one GEMM into a scratch output, copied out image by image. Each output element
// is computed as in image (same kernel, same order over the depth).
func (ci convImages) runJoined(b0, b1, q int) {
	m, kdim, plane := ci.m, ci.kdim, ci.plane
	nr := sgemm.PackedAPanelWidth(m)
	// Decided once: the Runner's worker count may change during the Run (SetWorkers).
	chunk := ci.chunked()
	cols := q * plane
	if chunk {
		cols = min(cols, convChunk)
	}
	col := ci.mem.getScratch(sgemm.PackedBSize(cols, kdim, nr))
	tmp := ci.mem.getScratch(m * q * plane)
	for b := b0; b < b1; b += q {
		k := min(q, b1-b)
		n := k * plane
		if chunk {
			ci.joinedChunks(b, n, col, tmp)
		} else {
			bp := col[:sgemm.PackedBSize(n, kdim, nr)]
			for i := range k {
				src := ci.xv[(b+i)*ci.c*ci.h*ci.wd : (b+i+1)*ci.c*ci.h*ci.wd]
				im2colPackedAt(ci.mem, bp, src, ci.c, ci.h, ci.wd, ci.p, nr, ci.gemmWorkers, n, i*plane)
			}
			ops := sgemm.Operands{PackedA: ci.packedW[0], PackedB: bp, Fill: true, RowInit: ci.bias}
			sgemm.Run(gemmScratch{ci.mem}, tmp, n, ops, m, n, kdim, ci.gemmWorkers)
		}
		for i := range k {
			for r := range m {
				o := ((b+i)*m + r) * plane
				row := ci.d[o : o+plane]
				copy(row, tmp[r*n+i*plane:r*n+(i+1)*plane])
				ci.finishRow(row, o)
			}
		}
	}
	ci.mem.putScratch(tmp)
	ci.mem.putScratch(col)
}

// joinedChunks is runJoined's product for images b.. (n columns side by side) convChunk
// columns at a time, as shiftedGEMM does for one image: each chunk of B, which may span
// images, is packed by im2colShifted into col just before its product into tmp.
func (ci *convImages) joinedChunks(b, n int, col, tmp []float32) {
	c, h, wd, kdim, plane := ci.c, ci.h, ci.wd, ci.kdim, ci.plane
	nr := sgemm.PackedAPanelWidth(ci.m)
	ops := sgemm.Operands{PackedA: ci.packedW[0], Fill: true, RowInit: ci.bias}
	for a := 0; a < n; a += convChunk {
		e := min(a+convChunk, n)
		ops.PackedB = col[:sgemm.PackedBSize(e-a, kdim, nr)]
		for i := a / plane; i*plane < e; i++ {
			src := ci.xv[(b+i)*c*h*wd : (b+i+1)*c*h*wd]
			lo, hi := max(a, i*plane)-i*plane, min(e, (i+1)*plane)-i*plane
			for ch := 0; ch < c; ch++ {
				im2colShifted(ops.PackedB, src[ch*h*wd:(ch+1)*h*wd], h, wd, ci.p, ch, kdim, nr, e-a, i*plane+lo-a, lo, hi)
			}
		}
		sgemm.Run(gemmScratch{ci.mem}, tmp[a:], n, ops, ci.m, e-a, kdim, 1)
	}
}

// finishRow applies the epilogue to row, the output's elements from o on.
func (ci *convImages) finishRow(row []float32, o int) {
	if ci.residual != nil {
		sgemm.AddTo(row, ci.residual[o:o+len(row)])
	}
	ci.act.Apply(row)
}

// convChunk is the columns of B that shiftedGEMM packs at a time: sgemm's tile width, so
// that A is read no more often than in one product over the whole plane.
const convChunk = 256

// chunked reports whether image runs its GEMMs through shiftedGEMM: weights packed in
// advance, a convolution im2colShifted builds, and one goroutine per GEMM (a product of
// convChunk columns has too few tiles to split).
func (ci *convImages) chunked() bool {
	return ci.packedW != nil && shiftable(ci.p, ci.wd, sgemm.PackedAPanelWidth(ci.mg)) &&
		(ci.gemmWorkers == 1 || ci.mem.maxWorkers() == 1)
}

// shiftedGEMM runs one group's GEMM (ops, without B) of input planes src into dst
// convChunk columns at a time, each chunk of B packed by im2colShifted into col just
// before its product: the chunk is still in cache when the kernel reads it, where B of a
// whole 56×56 plane (7 MB for 64 channels) goes to memory and back. Each output element
// is computed as in one product over the plane (same kernel, same order over the depth).
func (ci *convImages) shiftedGEMM(ops sgemm.Operands, src, dst, col []float32) {
	h, wd, cg, mg, kdim, plane := ci.h, ci.wd, ci.cg, ci.mg, ci.kdim, ci.plane
	nr := sgemm.PackedAPanelWidth(mg)
	residual := ops.Residual
	for a := 0; a < plane; a += convChunk {
		b := min(a+convChunk, plane)
		ops.PackedB = col[:sgemm.PackedBSize(b-a, kdim, nr)]
		for c := 0; c < cg; c++ {
			im2colShifted(ops.PackedB, src[c*h*wd:(c+1)*h*wd], h, wd, ci.p, c, kdim, nr, b-a, 0, a, b)
		}
		if residual != nil {
			ops.Residual = residual[a:]
		}
		sgemm.Run(gemmScratch{ci.mem}, dst[a:], plane, ops, mg, b-a, kdim, 1)
	}
}

// image convolves image b, its im2col matrix in col.
func (ci *convImages) image(b int, col []float32) {
	c, h, wd, m, cg, mg, kdim, plane := ci.c, ci.h, ci.wd, ci.m, ci.cg, ci.mg, ci.kdim, ci.plane
	for g := 0; g < ci.group; g++ {
		src := ci.xv[(b*c+g*cg)*h*wd : (b*c+(g+1)*cg)*h*wd]
		dst := ci.d[(b*m+g*mg)*plane : (b*m+(g+1)*mg)*plane]
		// sgemm sets each tile of dst to the bias (or zero) while computing it.
		ops := sgemm.Operands{A: sgemm.Matrix{Data: ci.wv[g*mg*kdim : (g+1)*mg*kdim], LD: kdim}, B: sgemm.Matrix{Data: src, LD: plane}, Fill: true}
		if ci.bias != nil {
			ops.RowInit = ci.bias[g*mg : (g+1)*mg]
		}
		if ci.residual != nil {
			ops.Residual = ci.residual[(b*m+g*mg)*plane : (b*m+(g+1)*mg)*plane]
		}
		ops.Act = ci.act
		if ci.packedW != nil {
			ops.PackedA = ci.packedW[g]
		}
		switch {
		case ci.direct:
			ops.BRowOffsets = ci.offs
		case ci.rows:
			padLen, _, _ := ci.rowsSizes()
			ci.rowsGEMM(src, dst, (b*m+g*mg)*plane, g, col[:padLen], col[padLen:])
			continue
		case ci.chunk:
			ci.shiftedGEMM(ops, src, dst, col)
			continue
		case ci.packedW != nil:
			// With A packed in advance the kernel is known: im2col writes B's packed panels
			// row by row, one pass over memory fewer than im2col then sgemm's packing.
			nr := sgemm.PackedAPanelWidth(mg)
			ops.PackedB = col[:sgemm.PackedBSize(plane, kdim, nr)]
			im2colPackedAt(ci.mem, ops.PackedB, src, cg, h, wd, ci.p, nr, ci.gemmWorkers, plane, 0)
		default:
			im2col(ci.mem, col, src, cg, h, wd, ci.p, ci.gemmWorkers)
			ops.B = sgemm.Matrix{Data: col, LD: plane}
		}
		sgemm.Run(gemmScratch{ci.mem}, dst, plane, ops, mg, plane, kdim, ci.gemmWorkers)
	}
}

// im2col writes col[(ci*kh+ki)*kw+kj][oy*ow+ox] = x[ci][oy*sh-pt+ki*dh][ox*sw-pl+kj*dw], zero
// outside the input. Channels are split across at most maxWorkers workers (0: as many as
// the Run allows) for large inputs.
func im2col(mem *arena, col, x []float32, c, h, w int, p convParams, maxWorkers int) {
	workers := mem.workersFor(c, c*p.kernel[0]*p.kernel[1]*p.out[0]*p.out[1])
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers)
	}
	runRange(workers, c, im2colArgs{col: col, x: x, h: h, w: w, p: p}, im2colArgs.run)
}

// im2colPackedAt is im2col writing columns col0.. of a B of n columns, packed for sgemm's
// panels of nr columns (PackBRow): each row is built in a scratch row, still in cache when
// it is packed.
func im2colPackedAt(mem *arena, bp, x []float32, c, h, w int, p convParams, nr, maxWorkers, n, col0 int) {
	workers := mem.workersFor(c, c*p.kernel[0]*p.kernel[1]*p.out[0]*p.out[1])
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers)
	}
	runRange(workers, c, im2colArgs{col: bp, x: x, h: h, w: w, p: p, nr: nr, c: c, mem: mem, n: n, col0: col0}, im2colArgs.run)
}

// im2colArgs is im2col's work, run over a range of channels: into col as a matrix, or
// packed for panels of nr columns when nr is set.
type im2colArgs struct {
	col, x []float32
	h, w   int
	p      convParams
	nr, c  int
	mem    *arena
	n      int // B's columns
	col0   int // the first column this image writes
}

func (a im2colArgs) run(c0, c1 int) {
	if a.nr == 0 {
		im2colChannels(a.col, a.x, a.h, a.w, a.p, c0, c1)
		return
	}
	kh, kw, plane := a.p.kernel[0], a.p.kernel[1], a.p.out[0]*a.p.out[1]
	if shiftable(a.p, a.w, a.nr) {
		for ci := c0; ci < c1; ci++ {
			im2colShifted(a.col, a.x[ci*a.h*a.w:(ci+1)*a.h*a.w], a.h, a.w, a.p, ci, a.c*kh*kw, a.nr, a.n, a.col0, 0, plane)
		}
		return
	}
	row := a.mem.getScratch(plane)
	for ci := c0; ci < c1; ci++ {
		for k := 0; k < kh*kw; k++ {
			im2colRow(row, a.x[ci*a.h*a.w:(ci+1)*a.h*a.w], a.h, a.w, a.p, k/kw, k%kw)
			sgemm.PackBRow(a.col, row, a.n, a.c*kh*kw, ci*kh*kw+k, a.nr, a.col0)
		}
	}
	a.mem.putScratch(row)
}

// im2colChannels is im2col for input channels c0..c1.
func im2colChannels(col, x []float32, h, w int, p convParams, c0, c1 int) {
	kh, kw := p.kernel[0], p.kernel[1]
	plane := p.out[0] * p.out[1]
	for ci := c0; ci < c1; ci++ {
		img := x[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				r := (ci*kh+ki)*kw + kj
				im2colRow(col[r*plane:(r+1)*plane], img, h, w, p, ki, kj)
			}
		}
	}
}

// im2colRow writes the im2col row of kernel tap (ki, kj) of one channel's image img.
func im2colRow(row, img []float32, h, w int, p convParams, ki, kj int) {
	oh, ow := p.out[0], p.out[1]
	sh, sw := p.strides[0], p.strides[1]
	dh, dw := p.dilations[0], p.dilations[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
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
// directly, which im2col + GEMM would do as many tiny one-row products. act (a fused Relu
// or Clip) is applied to each plane once computed, while it is still in cache.
func depthwiseConv2d(mem *arena, d, xv, wv, bias []float32, n, c, h, w int, p convParams, act sgemm.Activation) {
	work := n * c * p.kernel[0] * p.kernel[1] * p.out[0] * p.out[1]
	forRange(mem, n*c, work, depthwiseArgs{d: d, xv: xv, wv: wv, bias: bias, c: c, h: h, w: w, p: p, act: act}, depthwiseArgs.run)
}

// depthwiseArgs is depthwiseConv2d's work, run over a range of planes (image × channel).
type depthwiseArgs struct {
	d, xv, wv, bias []float32
	c, h, w         int
	p               convParams
	act             sgemm.Activation
}

func (a depthwiseArgs) run(p0, p1 int) {
	c, h, w, p := a.c, a.h, a.w, a.p
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	lo, hi := depthwiseInterior(w, ow, p)
	flat := depthwiseFlat(h, w, p)
	for plane := p0; plane < p1; plane++ {
		ch := plane % c
		img := a.xv[plane*h*w : (plane+1)*h*w]
		dst := a.d[plane*oh*ow : (plane+1)*oh*ow]
		b := float32(0)
		if a.bias != nil {
			b = a.bias[ch]
		}
		kern := a.wv[ch*kh*kw : (ch+1)*kh*kw]
		if flat {
			depthwisePlane3x3(dst, img, kern, b, h, w)
			depthwiseRow(dst[:ow], img, kern, b, h, w, 0, lo, hi, p)
			depthwiseRow(dst[(oh-1)*ow:], img, kern, b, h, w, oh-1, lo, hi, p)
		} else {
			for oy := 0; oy < oh; oy++ {
				depthwiseRow(dst[oy*ow:(oy+1)*ow], img, kern, b, h, w, oy, lo, hi, p)
			}
		}
		a.act.Apply(dst)
	}
}

// depthwiseFlat reports whether depthwisePlane3x3 computes a plane's rows between the first
// and the last: a 3×3 kernel at stride 1 without dilation, one column and row of padding on
// each side (the output the input's size), and a plane of at least 3×4.
func depthwiseFlat(h, w int, p convParams) bool {
	return p.kernel[0] == 3 && p.kernel[1] == 3 && p.strides[0] == 1 && p.strides[1] == 1 &&
		p.dilations[0] == 1 && p.dilations[1] == 1 && p.padBegin[0] == 1 && p.padBegin[1] == 1 &&
		p.out[0] == h && p.out[1] == w && h >= 3 && w >= 4
}

// depthwisePlane3x3 computes the output rows 1..h-2 of a depthwiseFlat plane. Read as one
// flat array, the interior outputs' taps lie at the same offsets from each output's index
// (-w-1, -w, -w+1, -1, ...), so one vector run covers the rows between the first and the
// last output column of the plane, the columns in between included; the first and last
// column of each row, which that run computes from the neighbouring rows, are then
// computed again with their taps outside the image left out, as depthwiseGeneric does. On
// 7×7 and 14×14 planes that is a few calls per plane instead of a few per row.
func depthwisePlane3x3(dst, img, kern []float32, b float32, h, w int) {
	k := (*[9]float32)(kern[:9:9])
	s, n := w+1, (h-2)*w-2
	row, r0, r1, r2 := dst[s:s+n], img[:n+2], img[w:w+n+2], img[2*w:2*w+n+2]
	for o := depthwise3x3Prefix(row, r0, r1, r2, k, b, 1); o < n; o++ {
		acc := b
		acc += k[0] * r0[o]
		acc += k[1] * r0[o+1]
		acc += k[2] * r0[o+2]
		acc += k[3] * r1[o]
		acc += k[4] * r1[o+1]
		acc += k[5] * r1[o+2]
		acc += k[6] * r2[o]
		acc += k[7] * r2[o+1]
		acc += k[8] * r2[o+2]
		row[o] = acc
	}
	for oy := 1; oy < h-1; oy++ {
		a, c, d := img[(oy-1)*w:oy*w], img[oy*w:(oy+1)*w], img[(oy+1)*w:(oy+2)*w]
		acc := b
		acc += k[1] * a[0]
		acc += k[2] * a[1]
		acc += k[4] * c[0]
		acc += k[5] * c[1]
		acc += k[7] * d[0]
		acc += k[8] * d[1]
		dst[oy*w] = acc
		acc = b
		acc += k[0] * a[w-2]
		acc += k[1] * a[w-1]
		acc += k[3] * c[w-2]
		acc += k[4] * c[w-1]
		acc += k[6] * d[w-2]
		acc += k[7] * d[w-1]
		dst[oy*w+w-1] = acc
	}
}

// depthwiseInterior returns the output columns [lo, hi) of a row of ow, in an input row of
// w, whose taps are all inside the image: the same for every row.
func depthwiseInterior(w, ow int, p convParams) (int, int) {
	sw, dw, pl := p.strides[1], p.dilations[1], p.padBegin[1]
	lo, hi := validRange(-pl, sw, w, ow)
	lo2, hi2 := validRange((p.kernel[1]-1)*dw-pl, sw, w, ow)
	return max(lo, lo2), min(hi, hi2)
}

// depthwiseRow computes output row oy of one plane: each output is the bias plus the
// products of its taps in kernel order (row by row), the taps outside the image left out,
// accumulated in a register. [lo, hi) are the interior columns (depthwiseInterior), all
// taps inside, which a 3×3 kernel computes unrolled.
func depthwiseRow(row, img, kern []float32, b float32, h, w, oy, lo, hi int, p convParams) {
	kh, kw := p.kernel[0], p.kernel[1]
	sh, sw := p.strides[0], p.strides[1]
	dh, dw := p.dilations[0], p.dilations[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	iy0 := oy*sh - pt
	if kh == 3 && kw == 3 && dh == 1 && dw == 1 && iy0 >= 0 && iy0+2 < h && lo < hi {
		r0, r1, r2 := img[iy0*w:(iy0+1)*w], img[(iy0+1)*w:(iy0+2)*w], img[(iy0+2)*w:(iy0+3)*w]
		k := kern[:9:9]
		depthwiseCols3x3(row[:lo], img, kern, b, h, w, iy0, 0, sw, pl)
		ix := lo*sw - pl
		lo += depthwise3x3Prefix(row[lo:hi], r0[ix:], r1[ix:], r2[ix:], (*[9]float32)(k), b, sw)
		for ox := lo; ox < hi; ox++ {
			ix := ox*sw - pl
			s0, s1, s2 := r0[ix:ix+3:ix+3], r1[ix:ix+3:ix+3], r2[ix:ix+3:ix+3]
			acc := b
			acc += k[0] * s0[0]
			acc += k[1] * s0[1]
			acc += k[2] * s0[2]
			acc += k[3] * s1[0]
			acc += k[4] * s1[1]
			acc += k[5] * s1[2]
			acc += k[6] * s2[0]
			acc += k[7] * s2[1]
			acc += k[8] * s2[2]
			row[ox] = acc
		}
		depthwiseCols3x3(row[hi:], img, kern, b, h, w, iy0, hi, sw, pl)
		return
	}
	if kh == 3 && kw == 3 && dh == 1 && dw == 1 && lo < hi {
		// A first or last row: the kernel rows inside the image, their bounds checked once.
		ka, kb := max(0, -iy0), min(3, h-iy0)
		depthwiseCols3x3(row[:lo], img, kern, b, h, w, iy0, 0, sw, pl)
		depthwiseEdgeRow(row[lo:hi], img, kern, b, w, iy0, ka, kb, lo*sw-pl, sw)
		depthwiseCols3x3(row[hi:], img, kern, b, h, w, iy0, hi, sw, pl)
		return
	}
	depthwiseGeneric(row, img, kern, b, h, w, iy0, 0, p)
}

// depthwiseCols3x3 is depthwiseGeneric for a 3×3 kernel without dilation (a row's first
// and last outputs, some of whose taps fall outside): the kernel rows inside the image
// found once, each tap's column checked, the taps in the same order.
func depthwiseCols3x3(row, img, kern []float32, b float32, h, w, iy0, ox0, sw, pl int) {
	ka, kb := max(0, -iy0), min(3, h-iy0)
	for o := range row {
		ix := (ox0+o)*sw - pl
		acc := b
		for ki := ka; ki < kb; ki++ {
			src, k := img[(iy0+ki)*w:(iy0+ki+1)*w], kern[3*ki:3*ki+3:3*ki+3]
			if uint(ix) < uint(w) {
				acc += k[0] * src[ix]
			}
			if uint(ix+1) < uint(w) {
				acc += k[1] * src[ix+1]
			}
			if uint(ix+2) < uint(w) {
				acc += k[2] * src[ix+2]
			}
		}
		row[o] = acc
	}
}

// depthwiseEdgeRow computes outputs of a 3×3 kernel whose columns are all inside the image
// but whose rows ka..kb-1 only are (the first and last rows of a padded plane): the taps in
// depthwiseGeneric's order, those of the other rows left out as it leaves them out. The
// first output's first tap is at column ix0; the next ones follow sw columns apart. Two
// rows at stride 1 (a plane padded by one) run eight outputs at a time (depthwise3x2AVX).
func depthwiseEdgeRow(row, img, kern []float32, b float32, w, iy0, ka, kb, ix0, sw int) {
	if sw == 1 && kb-ka == 2 {
		r0, r1 := img[(iy0+ka)*w+ix0:], img[(iy0+ka+1)*w+ix0:]
		o := depthwise3x2Prefix(row, r0, r1, (*[6]float32)(kern[3*ka:3*ka+6]), b)
		row, ix0 = row[o:], ix0+o
	}
	for o := range row {
		ix := ix0 + o*sw
		acc := b
		for ki := ka; ki < kb; ki++ {
			base := (iy0+ki)*w + ix
			s, k := img[base:base+3:base+3], kern[3*ki:3*ki+3:3*ki+3]
			acc += k[0] * s[0]
			acc += k[1] * s[1]
			acc += k[2] * s[2]
		}
		row[o] = acc
	}
}

// depthwiseGeneric computes outputs ox0.. of a row whose first input row is iy0, checking
// every tap's bounds.
func depthwiseGeneric(row, img, kern []float32, b float32, h, w, iy0, ox0 int, p convParams) {
	kh, kw := p.kernel[0], p.kernel[1]
	sw := p.strides[1]
	dh, dw := p.dilations[0], p.dilations[1]
	pl := p.padBegin[1]
	for o := range row {
		ix0 := (ox0+o)*sw - pl
		acc := b
		for ki := 0; ki < kh; ki++ {
			iy := iy0 + ki*dh
			if iy < 0 || iy >= h {
				continue
			}
			src := img[iy*w : (iy+1)*w]
			for kj := 0; kj < kw; kj++ {
				if ix := ix0 + kj*dw; ix >= 0 && ix < w {
					acc += kern[ki*kw+kj] * src[ix]
				}
			}
		}
		row[o] = acc
	}
}
