package graph

import "math/bits"

// A stride-1, undilated convolution whose output rows are as wide as its input rows (3×3
// with padding 1, ResNet's most common) has im2col rows that are the input plane itself,
// shifted: tap (ki, kj) of output (oy, ox) reads input element (oy-pt+ki)·w + (ox-pl+kj),
// that is output position c plus a constant shift, except where the tap falls outside the
// image (whole output rows at the top and bottom, a few columns at the left and right),
// which must read zero. im2colShifted copies each row straight into sgemm's packed panels
// in whole-panel moves, then zeroes those positions: one pass over memory where im2colRow
// then PackBRow take two. It writes the same values.

// shiftable reports whether im2colShifted applies to a convolution of input width w
// packed for panels of nr columns (a power of two, as every sgemm kernel's is).
func shiftable(p convParams, w, nr int) bool {
	return p.strides[0] == 1 && p.strides[1] == 1 && p.dilations[0] == 1 && p.dilations[1] == 1 &&
		p.out[1] == w && nr > 0 && nr&(nr-1) == 0
}

// packedRow addresses row kk of a B of k rows packed for panels of 1<<lg columns.
type packedRow struct {
	bp        []float32
	k, kk, lg int
}

// at is the position of column c.
func (r packedRow) at(c int) int {
	nr := 1 << r.lg
	return (c>>r.lg)*nr*r.k + r.kk*nr + c&(nr-1)
}

// im2colShifted writes columns a..b of the rows of channel img's taps, im2col rows
// ci·kh·kw.., into bp, a B of n columns and k rows packed for panels of nr columns, at
// columns col0...
func im2colShifted(bp, img []float32, h, w int, p convParams, ci, k, nr, n, col0, a, b int) {
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	r := packedRow{bp: bp, k: k, lg: bits.TrailingZeros(uint(nr))}
	for ki := 0; ki < kh; ki++ {
		for kj := 0; kj < kw; kj++ {
			r.kk = (ci*kh+ki)*kw + kj
			shift := (ki-pt)*w + kj - pl
			// Positions whose source lies outside the plane are all outside the image too, and
			// are zeroed below.
			if c0, c1 := max(a, -shift), min(b, h*w-shift); c0 < c1 {
				r.copy(img[c0+shift:c1+shift], col0+c0-a)
			}
			// Output rows rowLo..rowHi have their tap inside the image, each but for columns
			// outside lo..hi; the rows before and after are zero.
			rowLo, rowHi := min(oh, max(0, pt-ki)), max(0, min(oh, h+pt-ki))
			r.zero(col0-a, a, min(b, rowLo*ow))
			r.zero(col0-a, max(a, rowHi*ow), b)
			lo, hi := validRange(kj-pl, 1, w, ow)
			for _, span := range [2][2]int{{0, lo}, {hi, ow}} {
				for ox := span[0]; ox < span[1]; ox++ {
					// Rows rowLo..rowHi, restricted to the columns a..b.
					oy0 := max(rowLo, (a-ox+ow-1)/ow)
					oy1 := min(rowHi, (b-ox+ow-1)/ow)
					r.zeroColumn(col0-a+ox, ow, oy0, oy1)
				}
			}
			if end := col0 + b - a; end == n && n%nr != 0 {
				o := r.at(n - 1)
				clear(bp[o+1 : o+nr-(n-1)%nr])
			}
		}
	}
}

// copy writes src to the row from column c on.
func (r packedRow) copy(src []float32, c int) {
	nr := 1 << r.lg
	for j := 0; j < len(src); {
		cnt := min(nr-c&(nr-1), len(src)-j)
		o := r.at(c)
		if cnt == 32 {
			// A fixed-size copy is inline vector moves (see sgemm.PackBRow).
			*(*[32]float32)(r.bp[o : o+32]) = *(*[32]float32)(src[j : j+32])
		} else {
			copy(r.bp[o:o+cnt], src[j:j+cnt])
		}
		j += cnt
		c += cnt
	}
}

// zero zeroes columns off+c0..off+c1 of the row (none when c1 <= c0).
func (r packedRow) zero(off, c0, c1 int) {
	nr := 1 << r.lg
	for c := off + c0; c < off+c1; {
		cnt := min(nr-c&(nr-1), off+c1-c)
		o := r.at(c)
		clear(r.bp[o : o+cnt])
		c += cnt
	}
}

// zeroColumn zeroes columns c0+oy·ow for oy in oy0..oy1: the tap left or right of the
// image on each output row.
func (r packedRow) zeroColumn(c0, ow, oy0, oy1 int) {
	nr := 1 << r.lg
	base, mask := r.kk*nr, nr-1
	for c := c0 + oy0*ow; oy0 < oy1; oy0++ {
		r.bp[(c>>r.lg)*nr*r.k+base+c&mask] = 0
		c += ow
	}
}
