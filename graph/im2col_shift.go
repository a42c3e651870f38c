package graph

// A stride-1, undilated convolution whose output rows are as wide as its input rows (3×3
// with padding 1, ResNet's most common) has im2col rows that are the input plane itself,
// shifted: tap (ki, kj) of output (oy, ox) reads input element (oy-pt+ki)·w + (ox-pl+kj),
// that is output position c plus a constant shift, except where the tap falls outside the
// image (whole output rows at the top and bottom, a few columns at the left and right),
// which must read zero. im2colShifted copies each row straight into sgemm's packed panels
// in whole-panel moves, then zeroes those positions: one pass over memory where im2colRow
// then PackBRow take two. It writes the same values.

// shiftable reports whether im2colShifted applies to a convolution of input width w.
func shiftable(p convParams, w int) bool {
	return p.strides[0] == 1 && p.strides[1] == 1 && p.dilations[0] == 1 && p.dilations[1] == 1 && p.out[1] == w
}

// im2colShifted writes the rows of channel img's taps, im2col rows ci·kh·kw.., into bp, a
// B of n columns and k rows packed for panels of nr columns, at columns col0...
func im2colShifted(bp, img []float32, h, w int, p convParams, ci, k, nr, n, col0 int) {
	kh, kw := p.kernel[0], p.kernel[1]
	oh, ow := p.out[0], p.out[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	plane := oh * ow
	for ki := 0; ki < kh; ki++ {
		for kj := 0; kj < kw; kj++ {
			kk := (ci*kh+ki)*kw + kj
			shift := (ki-pt)*w + kj - pl
			// Positions whose source lies outside the plane are all outside the image too, and
			// are zeroed below.
			c0, c1 := max(0, -shift), min(plane, h*w-shift)
			if c0 < c1 {
				copyPacked(bp, img[c0+shift:c1+shift], k, nr, kk, col0+c0)
			}
			lo, hi := validRange(kj-pl, 1, w, ow)
			for oy := 0; oy < oh; oy++ {
				c := col0 + oy*ow
				if iy := oy - pt + ki; iy < 0 || iy >= h {
					zeroPacked(bp, k, nr, kk, c, c+ow)
					continue
				}
				zeroPacked(bp, k, nr, kk, c, c+lo)
				zeroPacked(bp, k, nr, kk, c+hi, c+ow)
			}
			if end := col0 + plane; end == n && n%nr != 0 {
				o := (n/nr)*nr*k + kk*nr
				clear(bp[o+n%nr : o+nr])
			}
		}
	}
}

// copyPacked writes src to row kk of bp (k rows packed for panels of nr columns) from
// column c on.
func copyPacked(bp, src []float32, k, nr, kk, c int) {
	for j := 0; j < len(src); {
		p, off := c/nr, c%nr
		cnt := min(nr-off, len(src)-j)
		o := p*nr*k + kk*nr + off
		if cnt == 32 {
			// A fixed-size copy is inline vector moves (see sgemm.PackBRow).
			*(*[32]float32)(bp[o : o+32]) = *(*[32]float32)(src[j : j+32])
		} else {
			copy(bp[o:o+cnt], src[j:j+cnt])
		}
		j += cnt
		c += cnt
	}
}

// zeroPacked zeroes columns c0..c1 of row kk of bp (k rows packed for panels of nr columns).
func zeroPacked(bp []float32, k, nr, kk, c0, c1 int) {
	for c := c0; c < c1; {
		p, off := c/nr, c%nr
		cnt := min(nr-off, c1-c)
		o := p*nr*k + kk*nr + off
		clear(bp[o : o+cnt])
		c += cnt
	}
}
