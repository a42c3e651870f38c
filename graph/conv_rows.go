package graph

import "github.com/qscript-dev/qscript/graph/internal/sgemm"

// A stride-1 convolution's im2col row for tap (ki, kj) of channel c is the zero-padded
// input plane of c shifted by ki rows and kj columns, if the output rows are taken as wide
// as the padded input's (the last kw-1 columns of each are then garbage, dropped): B's
// rows need not be copied at all. rowsGEMM copies the input once into a zero-padded
// buffer and runs sgemm.RunRows, whose kernel reads each row of B there in place, into a
// scratch output (set to bias + product by the first depth block) it then copies out. im2col writes kh·kw values per input value; this
// writes one, at the price of computing kw-1 extra columns per output row (3.6% for a
// 3×3 kernel on 56×56). With stride s, the padded plane is split into s×s phase planes
// (rows ≡ a, columns ≡ b mod s): tap (ki, kj) then reads phase (ki mod s, kj mod s)
// shifted by ki/s rows and kj/s columns, again a slice. Every output element gets the
// same additions, in the same order, as through im2col (the padding taps multiply zeros
// in both).

// rowsLayout is the padded input's layout for rowsGEMM: stride s, and each channel's s×s
// phase planes of hq×wq.
type rowsLayout struct{ s, hq, wq int }

// rowsShape is the layout for convolution p of an h×w input.
func rowsShape(p convParams, h, w int) rowsLayout {
	s := p.strides[0]
	hp, wp := h+p.padBegin[0]+p.padEnd[0], w+p.padBegin[1]+p.padEnd[1]
	return rowsLayout{s: s, hq: (hp + s - 1) / s, wq: (wp + s - 1) / s}
}

// offset is the position of B's row for channel c's tap (ki, kj).
func (l rowsLayout) offset(c, ki, kj int) int {
	return ((c*l.s+ki%l.s)*l.s+kj%l.s)*l.hq*l.wq + (ki/l.s)*l.wq + kj/l.s
}

// useRows reports whether image runs its GEMMs through rowsGEMM: weights packed in advance
// for a kernel RunRows has, the same stride (up to 4) both ways, dilation 1, a plane too
// large for joined images, and at most 1/8 extra columns. RunRows splits its tiles over
// the GEMM's goroutines (a batch of one on several cores).
func (ci *convImages) useRows() bool {
	p := ci.p
	l := rowsShape(p, ci.h, ci.wd)
	return ci.packedW != nil && !ci.direct && p.strides[0] == p.strides[1] && p.strides[0] <= 4 &&
		p.dilations[0] == 1 && p.dilations[1] == 1 && ci.plane >= 256 && 8*l.wq <= 9*p.out[1] &&
		sgemm.RowsSupported(ci.mg)
}

// rowsSizes are the lengths of rowsGEMM's scratch: the padded input (with room for the
// last row's panel past the end) and the wide output, and the output's row stride.
func (ci *convImages) rowsSizes() (padLen, tmpLen, ldc int) {
	p := ci.p
	l := rowsShape(p, ci.h, ci.wd)
	nr := sgemm.RowsPanel(ci.mg)
	ldc = (p.out[0]*l.wq + nr - 1) / nr * nr
	last := 0 // the largest offset
	for ki := 0; ki < p.kernel[0]; ki++ {
		for kj := 0; kj < p.kernel[1]; kj++ {
			last = max(last, l.offset(ci.cg-1, ki, kj))
		}
	}
	return max(ci.cg*l.s*l.s*l.hq*l.wq, last+ldc), ci.mg * ldc, ldc
}

// rowsOffsets sets offs[kk] to the position in the padded input of B's row kk.
func rowsOffsets(offs []int, p convParams, cg, h, w int) {
	l := rowsShape(p, h, w)
	kh, kw := p.kernel[0], p.kernel[1]
	for c := 0; c < cg; c++ {
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				offs[(c*kh+ki)*kw+kj] = l.offset(c, ki, kj)
			}
		}
	}
}

// rowsPad copies the input planes src (cg of h×w) into pad, zero-padded and split into
// phase planes (rowsLayout).
func rowsPad(pad, src []float32, p convParams, cg, h, w int) {
	l := rowsShape(p, h, w)
	s, pt, pl := l.s, p.padBegin[0], p.padBegin[1]
	if s == 1 {
		rowsPadUnstrided(pad, src, l, pt, pl, cg, h, w)
		return
	}
	clear(pad)
	for c := 0; c < cg; c++ {
		for y := 0; y < h; y++ {
			row := src[(c*h+y)*w : (c*h+y+1)*w]
			py := y + pt
			for b := 0; b < s; b++ {
				dst := pad[((c*s+py%s)*s+b)*l.hq*l.wq+(py/s)*l.wq:]
				for x := ((b-pl)%s + s) % s; x < w; x += s {
					dst[(x+pl)/s] = row[x]
				}
			}
		}
	}
}

// rowsPadUnstrided is rowsPad for stride 1, which zeroes only the padding (the rows above
// and below each plane, the columns left and right of each row, the room past the end)
// instead of the whole buffer first.
func rowsPadUnstrided(pad, src []float32, l rowsLayout, pt, pl, cg, h, w int) {
	wq, hq := l.wq, l.hq
	for c := 0; c < cg; c++ {
		plane := pad[c*hq*wq : (c+1)*hq*wq]
		clear(plane[:pt*wq+pl])
		for y := 0; y < h; y++ {
			at := (y+pt)*wq + pl
			copy(plane[at:at+w], src[(c*h+y)*w:(c*h+y+1)*w])
			// The right padding of this row and the left padding of the next.
			clear(plane[at+w : min(at+wq, len(plane))])
		}
		clear(plane[(h+pt)*wq:])
	}
	clear(pad[cg*hq*wq:])
}

// rowsGEMM computes one group's output planes dst (the output's elements from o on) from
// its input planes src, through pad and tmp (rowsSizes).
func (ci *convImages) rowsGEMM(src, dst []float32, o, g int, pad, tmp []float32) {
	p, mg, plane := ci.p, ci.mg, ci.plane
	l := rowsShape(p, ci.h, ci.wd)
	oh, ow := p.out[0], p.out[1]
	_, _, ldc := ci.rowsSizes()
	rowsPad(pad, src, p, ci.cg, ci.h, ci.wd)
	var bias []float32
	if ci.bias != nil {
		bias = ci.bias[g*mg : (g+1)*mg]
	}
	workers := ci.gemmWorkers
	if workers == 0 {
		workers = ci.mem.maxWorkers()
	}
	sgemm.RunRows(tmp, ldc, ci.packedW[g], pad, ci.offs, mg, oh*l.wq, ci.kdim, bias, workers)
	for r := 0; r < mg; r++ {
		row := dst[r*plane : (r+1)*plane]
		for oy := 0; oy < oh; oy++ {
			copy(row[oy*ow:(oy+1)*ow], tmp[r*ldc+oy*l.wq:])
		}
		ci.finishRow(row, o+r*plane)
	}
}
