package ggml

import "math"

// The 32-element formats of ggml-quants.c. Each quantizeXxx writes one row: len(x) is a
// multiple of 32, len(y) the row size. qw, when not nil, is the row's importance weights
// (ggml's quant_weights), which switch Q4_0..Q5_1 to the weighted scale search of
// quantize_row_xxx_impl; Q8_0 ignores it, as ggml does.

// quantizeQ8_0 is quantize_row_q8_0_ref: d = amax/127 as fp16, q = roundf(x * (1/d)).
func quantizeQ8_0(y []byte, x []float32) {
	if haveAVX2 {
		var d [128]float32
		for len(x) >= 32 {
			nb := min(len(x)/32, len(d))
			q8_0AVX2(&y[0], &x[0], nb, &d[0])
			for b, db := range d[:nb] {
				putU16(y[34*b:], fp32ToFP16(db))
				if db != 0 && 1/db > math.MaxFloat32 { // subnormal amax: ±Inf/NaN codes
					quantizeQ8_0Blocks(y[34*b:34*b+34], x[32*b:32*b+32])
				}
			}
			x, y = x[32*nb:], y[34*nb:]
		}
		return
	}
	quantizeQ8_0Blocks(y, x)
}

func quantizeQ8_0Blocks(y []byte, x []float32) {
	for len(x) >= 32 {
		b, y2 := y[:34:34], y[34:]
		xb := (*[32]float32)(x[:32])
		var amax float32
		for _, v := range xb {
			amax = max(amax, absf(v)) // no NaN here: QuantizeRows refuses them
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putU16(b, fp32ToFP16(d))
		q := (*[32]byte)(b[2:34])
		if id <= math.MaxFloat32 { // |x*id| <= ~127: roundf without the range cases
			for j, v := range xb {
				q[j] = byte(roundSmall(v * id))
			}
		} else { // 1/d overflowed (amax is subnormal): ±Inf and NaN codes as ggml's
			for j, v := range xb {
				q[j] = byte(roundf(v * id))
			}
		}
		x, y = x[32:], y2
	}
}

// roundSmall is roundf (half away from zero) for |x| < 2^22, without branches: |x| + 0.5
// is exact in float64, so truncating it rounds |x| half up; the sign goes back on after.
func roundSmall(x float32) int32 {
	bits := math.Float32bits(x)
	t := int32(float64(math.Float32frombits(bits&0x7fffffff)) + 0.5)
	s := int32(bits) >> 31
	return (t ^ s) - s
}

func dequantizeQ8_0(y []float32, b []byte) {
	for len(y) >= 32 {
		d := fp16ToFP32(getU16(b))
		q := b[2:34:34]
		for j := range 32 {
			y[j] = float32(int8(q[j])) * d
		}
		y, b = y[32:], b[34:]
	}
}

// absMax returns the element of largest magnitude, sign kept (the first of equals), as
// the amax/max loops of the Q4_0 and Q5_0 reference quantizers find it.
func absMax(xb []float32) float32 {
	var amax, max float32
	for _, v := range xb {
		if a := absf(v); amax < a {
			amax, max = a, v
		}
	}
	return max
}

// minMax returns the smallest and largest elements, as Q4_1/Q5_1's reference loops do.
func minMax(xb []float32) (float32, float32) {
	min, max := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range xb {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

// rowSigma2 is the mean square of the row, sum_x2/n_per_row, which weights the imatrix
// paths of the 32-element types.
func rowSigma2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

// imatrixWeights fills w[j] = qw[j] * sqrtf(sigma2 + x[j]*x[j]), the importance of each
// element that ggml's weighted searches use.
func imatrixWeights(w, qw, x []float32, sigma2 float32) {
	for j := range w {
		w[j] = qw[j] * sqrtf(sigma2+float32(x[j]*x[j]))
	}
}

// quantizeQ4_0 is quantize_q4_0: d = max/-8 (max the element of largest magnitude),
// q = min(15, (int8)(x/d + 8.5)); with qw, make_qx_quants(32, 8, ...) instead.
func quantizeQ4_0(y []byte, x, qw []float32) {
	if qw != nil {
		quantizeQ4_0Weighted(y, x, qw)
		return
	}
	if haveAVX2 {
		symRows(y, x, false)
		return
	}
	quantizeQ4_0Blocks(y, x)
}

// symRows runs symAVX2 over a row of Q4_0 (five false) or Q5_0 blocks: it stores each d
// as fp16 and packs the codes, or redoes a block with the scalar loop when 1/d overflowed.
func symRows(y []byte, x []float32, five bool) {
	size, div, bias, qmax := 18, float32(-8), float32(8.5), int32(15)
	if five {
		size, div, bias, qmax = 22, -16, 16.5, 31
	}
	var codes [64 * 32]byte
	var d [64]float32
	for len(x) >= 32 {
		nb := min(len(x)/32, len(d))
		symAVX2(&codes[0], &d[0], &x[0], nb, div, bias, qmax)
		for b, db := range d[:nb] {
			blk, xb := y[size*b:size*(b+1)], x[32*b:32*(b+1)]
			switch {
			case db != 0 && absf(1/db) > math.MaxFloat32 && five: // ±Inf/NaN codes
				quantizeQ5_0Blocks(blk, xb)
			case db != 0 && absf(1/db) > math.MaxFloat32:
				quantizeQ4_0Blocks(blk, xb)
			case five:
				putU16(blk, fp32ToFP16(db))
				packQ5(blk[2:6], blk[6:22], (*[32]byte)(codes[32*b:]))
			default:
				putU16(blk, fp32ToFP16(db))
				packQ4(blk[2:18], (*[32]byte)(codes[32*b:]))
			}
		}
		x, y = x[32*nb:], y[size*nb:]
	}
}

// packQ4 stores 32 four-bit codes: byte j holds element j (low nibble) and j+16 (high).
func packQ4(qs []byte, c *[32]byte) {
	for j := range 16 {
		qs[j] = c[j] | c[j+16]<<4
	}
}

// asymRows runs asymAVX2 over a row of Q4_1 (five false) or Q5_1 blocks: it stores d and
// m as fp16 and packs the codes, or redoes a block with the scalar loop when d or 1/d is not
// finite or min or max is a zero (whose sign ggml takes from the first zero).
func asymRows(y []byte, x []float32, five bool) {
	size, div, qmax := 20, float32(15), int32(15)
	if five {
		size, div, qmax = 24, 31, 255
	}
	var codes [64 * 32]byte
	var d, m, mx [64]float32
	for len(x) >= 32 {
		nb := min(len(x)/32, len(d))
		asymAVX2(&codes[0], &d[0], &m[0], &mx[0], &x[0], nb, div, qmax)
		for b, db := range d[:nb] {
			blk, xb := y[size*b:size*(b+1)], x[32*b:32*(b+1)]
			exact := db <= math.MaxFloat32 && (db == 0 || absf(1/db) <= math.MaxFloat32) && m[b] != 0 && mx[b] != 0
			switch {
			case !exact && five:
				quantizeQ5_1Blocks(blk, xb)
			case !exact:
				quantizeQ4_1Blocks(blk, xb)
			default:
				putU16(blk, fp32ToFP16(db))
				putU16(blk[2:], fp32ToFP16(m[b]))
				if five {
					packQ5(blk[4:8], blk[8:24], (*[32]byte)(codes[32*b:]))
				} else {
					packQ4(blk[4:20], (*[32]byte)(codes[32*b:]))
				}
			}
		}
		x, y = x[32*nb:], y[size*nb:]
	}
}

func quantizeQ4_0Blocks(y []byte, x []float32) {
	for len(x) >= 32 {
		xb, b := x[:32:32], y[:18:18]
		d := absMax(xb) / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putU16(b, fp32ToFP16(d))
		if id <= math.MaxFloat32 { // |x*id| <= 8: a plain conversion is C's
			for j := range 16 {
				x0 := min(15, int32(xb[j]*id+8.5))
				x1 := min(15, int32(xb[j+16]*id+8.5))
				b[2+j] = byte(x0) | byte(x1)<<4
			}
		} else { // 1/d overflowed: ±Inf and NaN codes as ggml's
			for j := range 16 {
				x0 := min(15, int8(cvtt(xb[j]*id+8.5)))
				x1 := min(15, int8(cvtt(xb[j+16]*id+8.5)))
				b[2+j] = byte(x0) | byte(x1)<<4
			}
		}
		x, y = x[32:], y[18:]
	}
}

func quantizeQ4_0Weighted(y []byte, x, qw []float32) {
	weightedQxRow(y, x, qw, false)
}

// weightedQxRow is the row loop of quantize_row_q4_0_impl (five false) and _q5_0_impl: per
// block of 32, weights qw*sqrt(sigma2 + x²) (sigma2 the row's mean square) and
// make_qx_quants, eight blocks at a time through makeQxGroups.
func weightedQxRow(y []byte, x, qw []float32, five bool) {
	nmax, size := 8, 18
	if five {
		nmax, size = 16, 22
	}
	sigma2 := rowSigma2(x)
	var w [256]float32
	var L [256]int8
	var scales [8]float32
	for lo := 0; lo < len(x); lo += 256 {
		hi := min(len(x), lo+256)
		imatrixWeights(w[:hi-lo], qw[lo:hi], x[lo:hi], sigma2)
		makeQxGroups(32, nmax, x[lo:hi], w[:hi-lo], L[:hi-lo], scales[:])
		for g := 0; g < (hi-lo)/32; g++ {
			ib := lo/32 + g
			b := y[size*ib : size*(ib+1)]
			putU16(b, fp32ToFP16(scales[g]))
			var c [32]byte
			for j := range c {
				c[j] = byte(L[32*g+j])
			}
			if five {
				packQ5(b[2:6], b[6:22], &c)
			} else {
				packQ4(b[2:18], &c)
			}
		}
	}
}

func dequantizeQ4_0(y []float32, b []byte) {
	for len(y) >= 32 {
		d := fp16ToFP32(getU16(b))
		for j := range 16 {
			y[j] = float32(int32(b[2+j]&0x0f)-8) * d
			y[j+16] = float32(int32(b[2+j]>>4)-8) * d
		}
		y, b = y[32:], b[18:]
	}
}

// quantizeQ4_1 is quantize_q4_1: d = (max-min)/15, m = min, q = min(15, (int8)((x-min)/d
// + 0.5)); with qw, make_qkx3_quants(32, 15, ...) instead.
func quantizeQ4_1(y []byte, x, qw []float32) {
	if qw != nil {
		quantizeQ4_1Weighted(y, x, qw)
		return
	}
	if haveAVX2 {
		asymRows(y, x, false)
		return
	}
	quantizeQ4_1Blocks(y, x)
}

func quantizeQ4_1Blocks(y []byte, x []float32) {
	for len(x) >= 32 {
		xb, b := x[:32:32], y[:20:20]
		min_, max_ := minMax(xb)
		d := (max_ - min_) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putU16(b, fp32ToFP16(d))
		putU16(b[2:], fp32ToFP16(min_))
		if id <= math.MaxFloat32 && d <= math.MaxFloat32 { // 0 <= (x-min)*id <= 15
			for j := range 16 {
				x0 := min(15, int32(float32((xb[j]-min_)*id)+0.5))
				x1 := min(15, int32(float32((xb[j+16]-min_)*id)+0.5))
				b[4+j] = byte(x0) | byte(x1)<<4
			}
		} else {
			for j := range 16 {
				x0 := min(15, int8(cvtt(float32((xb[j]-min_)*id)+0.5)))
				x1 := min(15, int8(cvtt(float32((xb[j+16]-min_)*id)+0.5)))
				b[4+j] = byte(x0) | byte(x1)<<4
			}
		}
		x, y = x[32:], y[20:]
	}
}

func quantizeQ4_1Weighted(y []byte, x, qw []float32) {
	weightedQkxRow(y, x, qw, false)
}

// weightedQkxRow is the row loop of quantize_row_q4_1_impl (five false) and _q5_1_impl:
// per block of 32, weights qw*sqrt(sigma2 + x²) (sigma2 the row's mean square) and
// make_qkx3_quants, eight blocks at a time through makeQkxGroups.
func weightedQkxRow(y []byte, x, qw []float32, five bool) {
	nmax, size := 15, 20
	if five {
		nmax, size = 31, 24
	}
	sigma2 := rowSigma2(x)
	var w [256]float32
	var L [256]uint8
	var scales, mins [8]float32
	for lo := 0; lo < len(x); lo += 256 {
		hi := min(len(x), lo+256)
		xs := x[lo:hi]
		imatrixWeights(w[:hi-lo], qw[lo:hi], xs, sigma2)
		makeQkxGroups(nmax, 32, xs, w[:hi-lo], L[:hi-lo], scales[:], mins[:], -0.9, 0.05, 36, false)
		for g := 0; g < (hi-lo)/32; g++ {
			ib := lo/32 + g
			b := y[size*ib : size*(ib+1)]
			putU16(b, fp32ToFP16(scales[g]))
			putU16(b[2:], fp32ToFP16(-mins[g]))
			if five {
				packQ5(b[4:8], b[8:24], (*[32]byte)(L[32*g:]))
			} else {
				packQ4(b[4:20], (*[32]byte)(L[32*g:]))
			}
		}
	}
}

func dequantizeQ4_1(y []float32, b []byte) {
	for len(y) >= 32 {
		d, m := fp16ToFP32(getU16(b)), fp16ToFP32(getU16(b[2:]))
		for j := range 16 {
			y[j] = float32(float32(b[4+j]&0x0f)*d) + m
			y[j+16] = float32(float32(b[4+j]>>4)*d) + m
		}
		y, b = y[32:], b[20:]
	}
}

// packQ5 stores 32 five-bit codes: low nibbles in qs (element j low, j+16 high), the
// fifth bits in the little-endian 32-bit qh (bit j for element j).
func packQ5(qh, qs []byte, L *[32]uint8) {
	var h uint32
	for j := range 16 {
		x0, x1 := L[j], L[j+16]
		qs[j] = x0&0x0f | (x1&0x0f)<<4
		h |= uint32(x0&0x10) >> 4 << j
		h |= uint32(x1&0x10) >> 4 << (j + 16)
	}
	qh[0], qh[1], qh[2], qh[3] = byte(h), byte(h>>8), byte(h>>16), byte(h>>24)
}

// quantizeQ5_0 is quantize_q5_0: d = max/-16, q = min(31, (int8)(x/d + 16.5)); with qw,
// make_qx_quants(32, 16, ...) instead.
func quantizeQ5_0(y []byte, x, qw []float32) {
	if qw != nil {
		weightedQxRow(y, x, qw, true)
		return
	}
	if haveAVX2 {
		symRows(y, x, true)
		return
	}
	quantizeQ5_0Blocks(y, x)
}

func quantizeQ5_0Blocks(y []byte, x []float32) {
	var L [32]uint8
	for len(x) >= 32 {
		xb, b := x[:32:32], y[:22:22]
		d := absMax(xb) / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putU16(b, fp32ToFP16(d))
		if id <= math.MaxFloat32 { // |x*id| <= 16
			for j, v := range xb {
				L[j] = uint8(min(31, int32(v*id+16.5)))
			}
		} else {
			for j, v := range xb {
				L[j] = uint8(min(31, int8(cvtt(v*id+16.5))))
			}
		}
		packQ5(b[2:6], b[6:22], &L)
		x, y = x[32:], y[22:]
	}
}

func dequantizeQ5_0(y []float32, b []byte) {
	for len(y) >= 32 {
		d := fp16ToFP32(getU16(b))
		qh := uint32(b[2]) | uint32(b[3])<<8 | uint32(b[4])<<16 | uint32(b[5])<<24
		for j := range 16 {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(int32(b[6+j]&0x0f|h0)-16) * d
			y[j+16] = float32(int32(b[6+j]>>4|h1)-16) * d
		}
		y, b = y[32:], b[22:]
	}
}

// quantizeQ5_1 is quantize_q5_1: d = (max-min)/31, m = min, q = (uint8)((x-min)/d + 0.5);
// with qw, make_qkx3_quants(32, 31, ...) instead.
func quantizeQ5_1(y []byte, x, qw []float32) {
	if qw != nil {
		weightedQkxRow(y, x, qw, true)
		return
	}
	if haveAVX2 {
		asymRows(y, x, true)
		return
	}
	quantizeQ5_1Blocks(y, x)
}

func quantizeQ5_1Blocks(y []byte, x []float32) {
	var L [32]uint8
	for len(x) >= 32 {
		xb, b := x[:32:32], y[:24:24]
		min_, max_ := minMax(xb)
		d := (max_ - min_) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putU16(b, fp32ToFP16(d))
		putU16(b[2:], fp32ToFP16(min_))
		if id <= math.MaxFloat32 && d <= math.MaxFloat32 { // 0 <= (x-min)*id <= 31
			for j, v := range xb {
				L[j] = uint8(int32(float32((v-min_)*id) + 0.5))
			}
		} else {
			for j, v := range xb {
				L[j] = uint8(cvtt(float32((v-min_)*id) + 0.5))
			}
		}
		packQ5(b[4:8], b[8:24], &L)
		x, y = x[32:], y[24:]
	}
}

func dequantizeQ5_1(y []float32, b []byte) {
	for len(y) >= 32 {
		d, m := fp16ToFP32(getU16(b)), fp16ToFP32(getU16(b[2:]))
		qh := uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
		for j := range 16 {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(float32(b[8+j]&0x0f|h0)*d) + m
			y[j+16] = float32(float32(b[8+j]>>4|h1)*d) + m
		}
		y, b = y[32:], b[24:]
	}
}
