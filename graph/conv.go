package graph

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

func init() { ops["Conv"] = buildConv }

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
