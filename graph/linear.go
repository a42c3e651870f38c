package graph

import (
	"cmp"
	"fmt"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["Gemm"] = buildGemm
	ops["MatMul"] = buildMatMul
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
