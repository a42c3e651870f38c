package graph

import "github.com/qscript-dev/qscript/graph/internal/sgemm"

// A stride-1 convolution's im2col row for tap (ki, kj) of channel c is the zero-padded
// input plane of c shifted by ki rows and kj columns, if the output rows are taken as wide
// as the padded input's (the last kw-1 columns of each are then garbage, dropped): B's
// rows need not be copied at all. rowsGEMM copies the input once into a zero-padded
// buffer and runs sgemm.RunRows, whose kernel reads each row of B there in place, into a
// scratch output it then copies out. im2col writes kh·kw values per input value; this
// writes one, at the price of computing kw-1 extra columns per output row (3.6% for a
// 3×3 kernel on 56×56). Every output element gets the same additions, in the same
// order, as through im2col (the padding taps multiply zeros in both).

// rowsShape is the zero-padded input's height and width for convolution p of an h×w input.
func rowsShape(p convParams, h, w int) (int, int) {
	return h + p.padBegin[0] + p.padEnd[0], w + p.padBegin[1] + p.padEnd[1]
}

// useRows reports whether image runs its GEMMs through rowsGEMM: weights packed in advance
// for a kernel RunRows has, stride and dilation 1, a plane too large for joined images,
// at most 1/8 extra columns, and one goroutine per GEMM (RunRows runs on one).
func (ci *convImages) useRows() bool {
	p := ci.p
	_, wp := rowsShape(p, ci.h, ci.wd)
	return ci.packedW != nil && !ci.direct && p.strides[0] == 1 && p.strides[1] == 1 &&
		p.dilations[0] == 1 && p.dilations[1] == 1 && ci.plane >= 256 && 8*wp <= 9*p.out[1] &&
		sgemm.RowsSupported(ci.mg) && (ci.gemmWorkers == 1 || ci.mem.maxWorkers() == 1)
}

// rowsSizes are the lengths of rowsGEMM's scratch: the padded input (with room for the
// last row's panel past the end) and the wide output, and the output's row stride.
func (ci *convImages) rowsSizes() (padLen, tmpLen, ldc int) {
	p := ci.p
	hp, wp := rowsShape(p, ci.h, ci.wd)
	nr := sgemm.RowsPanel(ci.mg)
	ldc = (p.out[0]*wp + nr - 1) / nr * nr
	last := (ci.cg-1)*hp*wp + (p.kernel[0]-1)*wp + p.kernel[1] - 1 // the largest offset
	return max(ci.cg*hp*wp, last+ldc), ci.mg * ldc, ldc
}

// rowsOffsets sets offs[kk] to the position in the padded input of B's row kk.
func rowsOffsets(offs []int, p convParams, cg, h, w int) {
	hp, wp := rowsShape(p, h, w)
	kh, kw := p.kernel[0], p.kernel[1]
	for c := 0; c < cg; c++ {
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				offs[(c*kh+ki)*kw+kj] = c*hp*wp + ki*wp + kj
			}
		}
	}
}

// rowsGEMM computes one group's output planes dst (the output's elements from o on) from
// its input planes src, through pad and tmp (rowsSizes).
func (ci *convImages) rowsGEMM(src, dst []float32, o, g int, pad, tmp []float32) {
	p, h, w, mg, plane := ci.p, ci.h, ci.wd, ci.mg, ci.plane
	hp, wp := rowsShape(p, h, w)
	oh, ow := p.out[0], p.out[1]
	_, _, ldc := ci.rowsSizes()
	clear(pad)
	for c := 0; c < ci.cg; c++ {
		for y := 0; y < h; y++ {
			at := c*hp*wp + (y+p.padBegin[0])*wp + p.padBegin[1]
			copy(pad[at:at+w], src[(c*h+y)*w:(c*h+y+1)*w])
		}
	}
	for r := 0; r < mg; r++ {
		v := float32(0)
		if ci.bias != nil {
			v = ci.bias[g*mg+r]
		}
		fillRow(tmp[r*ldc:(r+1)*ldc], v)
	}
	sgemm.RunRows(tmp, ldc, ci.packedW[g], pad, ci.offs, mg, oh*wp, ci.kdim)
	for r := 0; r < mg; r++ {
		row := dst[r*plane : (r+1)*plane]
		for oy := 0; oy < oh; oy++ {
			copy(row[oy*ow:(oy+1)*ow], tmp[r*ldc+oy*wp:])
		}
		ci.finishRow(row, o+r*plane)
	}
}
