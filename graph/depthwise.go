package graph

import "github.com/qscript-dev/qscript/graph/internal/sgemm"

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
