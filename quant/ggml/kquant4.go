package ggml

import "unsafe"

// Q4_K and Q5_K: super-blocks of 256 elements in 8 groups of 32, each group with a 6-bit
// scale and a 6-bit min; x ≈ d*scale*q - dmin*min. Block: d, dmin (fp16), scales[12]
// (the packed 6-bit pairs), then the codes: Q4_K qs[128]; Q5_K qh[32] (fifth bits) and
// qs[128].

// setScalesK4 packs eight 6-bit scales and mins as ggml does: groups 0-3 whole in bytes
// 0-3 (scales) and 4-7 (mins); groups 4-7 as nibbles in bytes 8-11, their top two bits
// in bits 6-7 of bytes 0-7.
func setScalesK4(sc []byte, ls, lm *[8]uint8) {
	for j := range 8 {
		if j < 4 {
			sc[j] = ls[j]
			sc[j+4] = lm[j]
		} else {
			sc[j+4] = ls[j]&0x0f | lm[j]<<4
			sc[j-4] |= ls[j] >> 4 << 6
			sc[j] |= lm[j] >> 4 << 6
		}
	}
}

// scaleMinK4 is get_scale_min_k4.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0f | q[j-4]>>6<<4, q[j+4]>>4 | q[j]>>6<<4
}

// requantizeK4 recomputes the codes (0..nmax) of each group from the stored scales, as
// the Q4_K and Q5_K quantizers do last; a group whose scale is 0 keeps its codes.
func requantizeK4(L *[qkK]uint8, x []float32, b []byte, nmax int32) {
	dAll, minAll := fp16ToFP32(getU16(b)), fp16ToFP32(getU16(b[2:]))
	var d, m [16]float32 // each group of 32 as two of 16
	for j := range 8 {
		sc, mn := scaleMinK4(j, b[4:16])
		d[2*j] = dAll * float32(sc)
		m[2*j] = minAll * float32(mn)
		d[2*j+1], m[2*j+1] = d[2*j], m[2*j]
	}
	requantGroups(L[:], x, d[:], m[:], 0, nmax, 0)
}

// refScalesK4 is the shared first half of quantize_row_q4_K_ref and _q5_K_ref:
// make_qkx2_quants per group with weights av_x + |x|, then 6-bit scales and mins against
// their maxima, and d, dmin.
func refScalesK4(b []byte, x []float32, L *[qkK]uint8, nmax int, rmin, rdelta float32, nstep int) {
	var w [qkK]float32
	var mins, scales [8]float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		avX := sqrtf(sumSquares(xs) / 32)
		for l, v := range xs {
			w[32*j+l] = avX + absf(v)
		}
	}
	makeQkxGroups(nmax, 32, x, w[:], L[:], scales[:], mins[:], rmin, rdelta, nstep, false)
	var maxScale, maxMin float32
	for j := range 8 {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j] = min(63, uint8(nearestInt(invScale*scales[j])))
		lm[j] = min(63, uint8(nearestInt(invMin*mins[j])))
	}
	setScalesK4(b[4:16], &ls, &lm)
	putU16(b, fp32ToFP16(maxScale/63))
	putU16(b[2:], fp32ToFP16(maxMin/63))
}

// weightedScalesK4 is the shared first half of quantize_row_q4_K_impl and _q5_K_impl:
// make_qkx3_quants per group with weights qw*sqrt(sigma2 + x²), then make_qp_quants for
// the scales and the mins.
func weightedScalesK4(b []byte, x, qw []float32, L *[qkK]uint8, nmax int) {
	var w [qkK]float32
	var mins, scales, sw [8]float32
	imatrixWeights(w[:], qw, x, 2*sumSquares(x)/qkK)
	for j := range 8 {
		var sumw float32
		for _, v := range w[32*j : 32*j+32] {
			sumw += v
		}
		sw[j] = sumw
	}
	makeQkxGroups(nmax, 32, x, w[:], L[:], scales[:], mins[:], -0.9, 0.05, 36, false)
	var ls, lm [8]uint8
	dBlock := makeQpQuants(63, scales[:], ls[:], sw[:])
	mBlock := makeQpQuants(63, mins[:], lm[:], sw[:])
	for j := range 8 { // Q5_K's impl clamps to 63; make_qp_quants already keeps L <= 63
		ls[j], lm[j] = min(63, ls[j]), min(63, lm[j])
	}
	setScalesK4(b[4:16], &ls, &lm)
	putU16(b, fp32ToFP16(dBlock))
	putU16(b[2:], fp32ToFP16(mBlock))
}

// quantizeQ4_K is quantize_q4_K.
func quantizeQ4_K(y []byte, x, qw []float32) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		xb, b := x[qkK*i:qkK*(i+1)], y[144*i:144*(i+1)]
		if qw != nil {
			weightedScalesK4(b, xb, qw[qkK*i:qkK*(i+1)], &L, 15)
		} else {
			refScalesK4(b, xb, &L, 15, -1, 0.1, 20)
		}
		requantizeK4(&L, xb, b, 15)
		q := b[16:144]
		for j := 0; j < qkK; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	}
}

func dequantizeQ4_K(y []float32, b []byte) {
	for len(y) >= qkK {
		d, min_ := fp16ToFP32(getU16(b)), fp16ToFP32(getU16(b[2:]))
		q := b[16:144]
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, b[4:16])
			d1, m1 := d*float32(sc), min_*float32(m)
			sc, m = scaleMinK4(is+1, b[4:16])
			d2, m2 := d*float32(sc), min_*float32(m)
			for l := range 32 {
				y[l] = float32(d1*float32(q[l]&0x0f)) - m1
				y[l+32] = float32(d2*float32(q[l]>>4)) - m2
			}
			y, q = y[64:], q[32:]
		}
		b = b[144:]
	}
}

// quantizeQ5_K is quantize_q5_K.
func quantizeQ5_K(y []byte, x, qw []float32) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		xb, b := x[qkK*i:qkK*(i+1)], y[176*i:176*(i+1)]
		if qw != nil {
			weightedScalesK4(b, xb, qw[qkK*i:qkK*(i+1)], &L, 31)
		} else {
			refScalesK4(b, xb, &L, 31, -0.5, 0.1, 15)
		}
		requantizeK4(&L, xb, b, 31)
		qh, ql := b[16:48], b[48:176]
		clear(qh)
		m1, m2 := byte(1), byte(2)
		for n := 0; n < qkK; n += 64 {
			for j := range 32 {
				l1, l2 := L[n+j], L[n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1, m2 = m1<<2, m2<<2
			ql = ql[32:]
		}
	}
}

func dequantizeQ5_K(y []float32, b []byte) {
	for len(y) >= qkK {
		d, min_ := fp16ToFP32(getU16(b)), fp16ToFP32(getU16(b[2:]))
		qh, ql := (*[32]byte)(b[16:48]), b[48:176]
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, b[4:16])
			d1, m1 := d*float32(sc), min_*float32(m)
			sc, m = scaleMinK4(is+1, b[4:16])
			d2, m2 := d*float32(sc), min_*float32(m)
			q := (*[32]byte)(ql)
			for l := range 32 { // the fifth bits of this pair of groups: bits is and is+1
				lo := q[l]&0x0f | (qh[l]>>is&1)<<4
				hi := q[l]>>4 | (qh[l]>>(is+1)&1)<<4
				y[l] = float32(d1*float32(lo)) - m1
				y[l+32] = float32(d2*float32(hi)) - m2
			}
			y, ql = y[64:], ql[32:]
		}
		b = b[176:]
	}
}

// Q6_K block: ql[128] (low four bits), qh[64] (top two bits), scales[16] (int8), d
// (fp16); x ≈ d*scale*(q-32), groups of 16.

// quantizeQ6_K is quantize_q6_K: make_qx_quants(16, 32, ...) per group, weighted by x²
// or, with an importance matrix, by qw itself; then 8-bit scales against the one of
// largest magnitude.
func quantizeQ6_K(y []byte, x, qw []float32) {
	var L [qkK]int8
	var scales [16]float32
	var w [qkK]float32
	for i := 0; i < len(x)/qkK; i++ {
		xb, b := x[qkK*i:qkK*(i+1)], y[210*i:210*(i+1)]
		ws := w[:]
		if qw != nil {
			ws = qw[qkK*i : qkK*(i+1)]
		} else {
			for l, v := range xb {
				w[l] = v * v
			}
		}
		makeQxGroups(16, 32, xb, ws, L[:], scales[:])
		var maxScale, maxAbsScale float32
		for ib := range 16 {
			if a := absf(scales[ib]); a > maxAbsScale {
				maxAbsScale, maxScale = a, scales[ib]
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b)
			continue
		}
		iscale := -128 / maxScale
		putU16(b[208:], fp32ToFP16(1/iscale))
		sc := b[192:208]
		for ib := range 16 {
			sc[ib] = byte(min(127, nearestInt(iscale*scales[ib])))
		}
		dAll := fp16ToFP32(getU16(b[208:]))
		var d, zero [16]float32
		for j := range 16 {
			d[j] = dAll * float32(int8(sc[j]))
		}
		requantGroups(unsafe.Slice((*byte)(unsafe.Pointer(&L[0])), qkK), xb, d[:], zero[:], -32, 31, 32)
		ql, qh := b[:128], b[128:192]
		for j := 0; j < qkK; j += 128 {
			for l := range 32 {
				q1, q2, q3, q4 := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
				ql[l] = q1&0x0f | q3<<4
				ql[l+32] = q2&0x0f | q4<<4
				qh[l] = q1>>4 | q2>>4<<2 | q3>>4<<4 | q4>>4<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
	}
}

func dequantizeQ6_K(y []float32, b []byte) {
	for len(y) >= qkK {
		d := fp16ToFP32(getU16(b[208:]))
		ql, qh, sc := b[:128], b[128:192], b[192:208]
		for n := 0; n < qkK; n += 128 {
			for l := range 32 {
				is := l / 16
				q1 := int32(ql[l]&0x0f|qh[l]&3<<4) - 32
				q2 := int32(ql[l+32]&0x0f|qh[l]>>2&3<<4) - 32
				q3 := int32(ql[l]>>4|qh[l]>>4&3<<4) - 32
				q4 := int32(ql[l+32]>>4|qh[l]>>6&3<<4) - 32
				y[l] = d * float32(int8(sc[is])) * float32(q1)
				y[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
			y, ql, qh, sc = y[128:], ql[64:], qh[32:], sc[8:]
		}
		b = b[210:]
	}
}
