package ggml

import "unsafe"

// Q2_K and Q3_K: super-blocks of 256 elements in 16 groups of 16.

// sumSquares is the float32 sum of x², in index order.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// packQ2 stores 256 two-bit codes: byte l of each 32-byte half holds elements l, l+32,
// l+64 and l+96 of its 128 in bits 0-1, 2-3, 4-5 and 6-7.
func packQ2(qs []byte, L *[qkK]uint8) {
	for j := 0; j < qkK; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// requantizeQ2 recomputes each group's codes from the stored (fp16-rounded) scales and
// mins, as both Q2_K quantizers do last; groups whose scale rounded to 0 keep their codes.
func requantizeQ2(L *[qkK]uint8, x []float32, sc []byte, dm, mm float32) {
	var d, m [16]float32
	for j := range 16 {
		d[j] = dm * float32(sc[j]&0x0f)
		m[j] = mm * float32(sc[j]>>4)
	}
	requantGroups(L[:], x, d[:], m[:], 0, 3, 0)
}

// quantizeQ2_K is quantize_q2_K. Block: scales[16] (4-bit scale low, 4-bit min high),
// qs[64], d and dmin (fp16); x ≈ d*scale*q - dmin*min.
func quantizeQ2_K(y []byte, x, qw []float32) {
	for i := 0; i < len(x)/qkK; i++ {
		xb, b := x[qkK*i:qkK*(i+1)], y[84*i:84*(i+1)]
		if qw != nil {
			quantizeQ2_KWeighted(b, xb, qw[qkK*i:qkK*(i+1)])
		} else {
			quantizeQ2_KRef(b, xb)
		}
	}
}

// quantizeQ2_KRef is one super-block of quantize_row_q2_K_ref: make_qkx2_quants per group
// with |x| weights and absolute error, then 4-bit scales and mins against their maxima.
func quantizeQ2_KRef(b []byte, x []float32) {
	var L [qkK]uint8
	var w [qkK]float32
	var mins, scales [16]float32
	for i, v := range x {
		w[i] = absf(v)
	}
	makeQkxGroups(3, 16, x, w[:], L[:], scales[:], mins[:], -0.5, 0.1, 15, true)
	var maxScale, maxMin float32
	for j := range 16 {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := b[:16]
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		putU16(b[80:], fp32ToFP16(maxScale/15))
	} else {
		clear(sc)
		putU16(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		putU16(b[82:], fp32ToFP16(maxMin/15))
	} else {
		putU16(b[82:], 0)
	}
	requantizeQ2(&L, x, sc, fp16ToFP32(getU16(b[80:])), fp16ToFP32(getU16(b[82:])))
	packQ2(b[16:80], &L)
}

// quantizeQ2_KWeighted is one super-block of quantize_row_q2_K_impl: make_qkx3_quants
// per group with weights qw*sqrt(sigma2 + x²), then make_qp_quants for the scales and mins.
func quantizeQ2_KWeighted(b []byte, x, qw []float32) {
	var L [qkK]uint8
	var Ls, Lm [16]uint8
	var w [qkK]float32
	var mins, scales, sw [16]float32
	imatrixWeights(w[:], qw, x, sumSquares(x)/qkK)
	for j := range 16 {
		for _, v := range w[16*j : 16*j+16] {
			sw[j] += v
		}
	}
	makeQkxGroups(3, 16, x, w[:], L[:], scales[:], mins[:], -0.9, 0.05, 36, false)
	dm := makeQpQuants(15, scales[:], Ls[:], sw[:])
	mm := makeQpQuants(15, mins[:], Lm[:], sw[:])
	putU16(b[80:], fp32ToFP16(dm))
	putU16(b[82:], fp32ToFP16(mm))
	sc := b[:16]
	for j := range sc {
		sc[j] = Ls[j] | Lm[j]<<4
	}
	requantizeQ2(&L, x, sc, fp16ToFP32(getU16(b[80:])), fp16ToFP32(getU16(b[82:])))
	packQ2(b[16:80], &L)
}

func dequantizeQ2_K(y []float32, b []byte) {
	for len(y) >= qkK {
		d, min_ := fp16ToFP32(getU16(b[80:])), fp16ToFP32(getU16(b[82:]))
		sc, q := b[:16], b[16:80]
		is, o := 0, 0
		for n := 0; n < qkK; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 32; half += 16 {
					dl, ml := d*float32(sc[is]&0x0f), min_*float32(sc[is]>>4)
					is++
					for l := range 16 {
						y[o] = float32(dl*float32(q[l+half]>>shift&3)) - ml
						o++
					}
				}
			}
			q = q[32:]
		}
		y, b = y[qkK:], b[84:]
	}
}

// Q3_K block: hmask[32] (the third bit), qs[64] (the low two bits), scales[12] (sixteen
// 6-bit signed scales), d (fp16); x ≈ d*(scale-32)*(q-4).

// setScalesQ3 packs sixteen 6-bit values: the low nibbles of 0-7 and 8-15 in bytes 0-7
// (low and high), the top two bits in bytes 8-11, two bits per value.
func setScalesQ3(sc []byte, ls *[16]int8) {
	clear(sc[:12])
	for j := range 16 {
		l := ls[j]
		if j < 8 {
			sc[j] = byte(l & 0x0f)
		} else {
			sc[j-8] |= byte(l&0x0f) << 4
		}
		l >>= 4
		sc[j%4+8] |= byte(l) << (2 * (j / 4))
	}
}

// scaleQ3 unpacks scale j as a signed value (the 6-bit code minus 32).
func scaleQ3(sc []byte, j int) int8 {
	var lo byte
	if j < 8 {
		lo = sc[j] & 0x0f
	} else {
		lo = sc[j-8] >> 4
	}
	return int8(lo|(sc[8+j%4]>>(2*(j/4))&3)<<4) - 32
}

// finishQ3 requantizes with the stored scales and writes hmask and qs.
func finishQ3(b []byte, x []float32, L *[qkK]int8) {
	sc := b[96:108]
	dAll := fp16ToFP32(getU16(b[108:]))
	var d, zero [16]float32
	for j := range 16 {
		d[j] = dAll * float32(scaleQ3(sc, j))
	}
	requantGroups(unsafe.Slice((*byte)(unsafe.Pointer(&L[0])), qkK), x, d[:], zero[:], -4, 3, 4)
	// The third bit of element j goes to bit j/32 of hmask byte j%32; the low two bits
	// to qs, packed as Q2_K's.
	hmask := (*[32]byte)(b[:32])
	var u [qkK]uint8
	for m := range 32 {
		var h byte
		for k := range 8 {
			l := uint8(L[32*k+m])
			h |= (l >> 2 & 1) << k
			u[32*k+m] = l & 3
		}
		hmask[m] = h
	}
	packQ2(b[32:96], &u)
}

// quantizeQ3_K is quantize_q3_K.
func quantizeQ3_K(y []byte, x, qw []float32) {
	for i := 0; i < len(x)/qkK; i++ {
		xb, b := x[qkK*i:qkK*(i+1)], y[110*i:110*(i+1)]
		if qw != nil {
			quantizeQ3_KWeighted(b, xb, qw[qkK*i:qkK*(i+1)])
		} else {
			quantizeQ3_KRef(b, xb)
		}
	}
}

// quantizeQ3_KRef is one super-block of quantize_row_q3_K_ref: make_q3_quants per group,
// scales against the one of largest magnitude.
func quantizeQ3_KRef(b []byte, x []float32) {
	var L [qkK]int8
	var scales [16]float32
	var maxScale, amax float32
	if haveAVX2 {
		makeQ3Lanes8(4, x[:128], L[:128], scales[:8])
		makeQ3Lanes8(4, x[128:], L[128:], scales[8:])
	} else {
		for j := range 16 {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
		}
	}
	for j := range 16 {
		if s := absf(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	sc := b[96:108]
	if maxScale != 0 {
		iscale := -32 / maxScale
		var ls [16]int8
		for j := range 16 {
			l := int8(nearestInt(iscale * scales[j]))
			ls[j] = int8(clampI(int32(l), -32, 31) + 32)
		}
		setScalesQ3(sc, &ls)
		putU16(b[108:], fp32ToFP16(1/iscale))
	} else {
		clear(sc)
		putU16(b[108:], 0)
	}
	finishQ3(b, x, &L)
}

// quantizeQ3_KWeighted is one super-block of quantize_row_q3_K_impl: make_qx_quants per
// group and for the scales, with weights qw*sqrt(sigma2 + x²).
func quantizeQ3_KWeighted(b []byte, x, qw []float32) {
	var L [qkK]int8
	var w [qkK]float32
	var scales, sw [16]float32
	var ls [16]int8
	imatrixWeights(w[:], qw, x, 2*sumSquares(x)/qkK)
	for j := range 16 {
		var sumw float32
		for _, v := range w[16*j : 16*j+16] {
			sumw += v
		}
		sw[j] = sumw
	}
	makeQxGroups(16, 4, x, w[:], L[:], scales[:])
	d := makeQxQuants(16, 32, scales[:], ls[:], sw[:])
	setScalesQ3(b[96:108], &ls)
	putU16(b[108:], fp32ToFP16(d))
	finishQ3(b, x, &L)
}

func dequantizeQ3_K(y []float32, b []byte) {
	for len(y) >= qkK {
		dAll := fp16ToFP32(getU16(b[108:]))
		hm, q, sc := b[:32], b[32:96], b[96:108]
		is, o := 0, 0
		m := byte(1)
		for n := 0; n < qkK; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 32; half += 16 {
					dl := dAll * float32(scaleQ3(sc, is))
					is++
					for l := range 16 {
						v := int32(q[l+half] >> shift & 3)
						if hm[l+half]&m == 0 {
							v -= 4
						}
						y[o] = dl * float32(v)
						o++
					}
				}
				m <<= 1
			}
			q = q[32:]
		}
		y, b = y[qkK:], b[110:]
	}
}
