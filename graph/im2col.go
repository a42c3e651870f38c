package graph

import "github.com/qscript-dev/qscript/graph/internal/sgemm"

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
