package onnxquant

import (
	"math"
)

// blockCodes is a [K, N] MatMul weight quantized to 4 bits in blocks of block rows along
// K, column by column: codes[n*K+k] (column-major, as MatMulNBits stores B), one scale and
// zero point per (column, block) at n*nb+b. Codes and zero points are unsigned 0..15
// (symmetric codes have the implied zero point 8), except in the DequantizeLinear form's
// signed int4, where codes are -8..7 in two's complement nibbles and zero points 0.
type blockCodes struct {
	K, N, block, nb int
	codes           []uint8
	scales          []float32
	zps             []uint8
}

func newBlockCodes(K, N, block int) *blockCodes {
	nb := (K + block - 1) / block
	return &blockCodes{K: K, N: N, block: block, nb: nb, codes: make([]uint8, N*K),
		scales: make([]float32, N*nb), zps: make([]uint8, N*nb)}
}

// roundf is C's roundf: half away from zero.
func roundf(x float32) float32 { return float32(math.Round(float64(x))) }

// range2scale is MLAS's symmetric range2scale<float, 4, signed_quant=false>
// (onnxruntime/core/mlas/lib/q4_dq.cpp): the value of largest magnitude, negated, over
// halfRange 8, so that it maps to code 0 (-8 after the zero point 8), the wider half of
// the 4-bit range.
func range2scale(lo, hi float32) float32 {
	m := lo
	if abs32(hi) > abs32(lo) {
		m = hi
	}
	return -m / 8
}

// range2scalezp is MLAS's range2scalezp<float, 4, false>: the range widened to hold 0,
// scale (max-min)/15, zero point round(-min/scale) clamped to 0..15.
func range2scalezp(lo, hi float32) (float32, uint8) {
	lo, hi = min(lo, 0), max(hi, 0)
	scale := (hi - lo) / 15
	zpf := lo
	if scale != 0 {
		zpf = 0 - lo/scale
	}
	switch {
	case zpf < 0:
		return scale, 0
	case zpf > 15:
		return scale, 15
	}
	return scale, uint8(roundf(zpf))
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// blockRange is the min and max of rows [k0, k1) of column n of w ([K, N] row-major).
func blockRange(w []float32, N, n, k0, k1 int) (float32, float32) {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for k := k0; k < k1; k++ {
		v := w[k*N+n]
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// rtnNBits quantizes w ([K, N] row-major float32) as ONNX Runtime's
// quantize_matmul_4bits does (MlasQuantizeBlockwise<float, 4>, columnwise:
// BlockwiseQuantizer::quantizeAndTranspose in q4_dq.cpp): per block, symmetric scale
// range2scale with zero point 8, or range2scalezp; codes clamp(roundf(v × (1/scale) + zp),
// 0, 15) in float32, with 1/scale taken as 0 when the scale is 0.
func rtnNBits(w []float32, K, N, block int, symmetric bool) *blockCodes {
	bc := newBlockCodes(K, N, block)
	for n := 0; n < N; n++ {
		for b := 0; b < bc.nb; b++ {
			k0, k1 := b*block, min((b+1)*block, K)
			lo, hi := blockRange(w, N, n, k0, k1)
			p := rangeParams(lo, hi, symmetric, 8)
			bc.scales[n*bc.nb+b], bc.zps[n*bc.nb+b] = p.scale, p.zp
			for k := k0; k < k1; k++ {
				bc.codes[n*K+k] = quantizeNBits(w[k*N+n], p.recip, p.zp)
			}
		}
	}
	return bc
}

// quantizeNBits is one code of quantizeAndTranspose: clamp(roundf(v*r + zp), 0, 15). The
// product is rounded to float32 before the add (no fused multiply-add), as the C++ does
// without FMA contraction.
func quantizeNBits(v, recip float32, zp uint8) uint8 {
	p := float32(v * recip)
	q := roundf(p + float32(zp))
	return uint8(min(max(q, 0), 15))
}

// packNBits lays bc out as MatMulNBits' inputs: B uint8 [N, nb, block/2] (code k of column
// n in byte k/2, the low nibble for even k), scales [N*nb] and, unless symmetric, zero
// points uint8 [N*ceil(nb/2)] (block b in byte b/2, low nibble for even b, an odd last
// block's high nibble 8). An odd K leaves the last byte's high nibble as MLAS leaves it:
// the code of row K-2 when rows K-3..K-1 share a thread tile of 2×block rows, else 0.
func packNBits(bc *blockCodes, symmetric bool) (b []uint8, scales []float32, zp []uint8) {
	blob := bc.block / 2
	rowBytes := bc.nb * blob
	b = make([]uint8, bc.N*rowBytes)
	for n := 0; n < bc.N; n++ {
		col := bc.codes[n*bc.K : (n+1)*bc.K]
		out := b[n*rowBytes : (n+1)*rowBytes]
		for k := 0; k+1 < bc.K; k += 2 {
			out[k/2] = col[k]&0xf | col[k+1]<<4
		}
		if k := bc.K - 1; bc.K%2 == 1 {
			var stale uint8
			if k%(2*bc.block) != 0 {
				stale = col[k-1]
			}
			out[k/2] = col[k]&0xf | stale<<4
		}
	}
	if symmetric {
		return b, bc.scales, nil
	}
	zpCols := (bc.nb + 1) / 2
	zp = make([]uint8, bc.N*zpCols)
	for n := 0; n < bc.N; n++ {
		for blk := 0; blk < bc.nb; blk += 2 {
			hi := uint8(8)
			if blk+1 < bc.nb {
				hi = bc.zps[n*bc.nb+blk+1]
			}
			zp[n*zpCols+blk/2] = bc.zps[n*bc.nb+blk]&0xf | hi<<4
		}
	}
	return b, bc.scales, zp
}

// dequantNBits returns the float weight bc stands for, [K, N] row-major: (q - zp) × scale.
func dequantNBits(bc *blockCodes, signed bool) []float32 {
	out := make([]float32, bc.K*bc.N)
	for n := 0; n < bc.N; n++ {
		for k := 0; k < bc.K; k++ {
			i := n*bc.nb + k/bc.block
			q, zp := int32(bc.codes[n*bc.K+k]), int32(bc.zps[i])
			if signed {
				q = int32(int8(bc.codes[n*bc.K+k]<<4) >> 4)
			}
			out[k*bc.N+n] = float32(q-zp) * bc.scales[i]
		}
	}
	return out
}

// rtnQDQ quantizes w as ONNX Runtime's quantize_qdq_matmul_4bits does
// (BlockwiseQDQQuantizer<float, 4, signed>::QuantizeColumnWise in q4_dq.cpp): symmetric
// gives signed int4 (range2scale<4, signed>: -max/8, zero point 0), asymmetric uint4 with
// range2scalezp; codes clamp(int(roundf(v × (1/scale))) + zp, min, max): here the product
// is rounded before the zero point is added.
func rtnQDQ(w []float32, K, N, block int, symmetric bool) *blockCodes {
	bc := newBlockCodes(K, N, block)
	for n := 0; n < N; n++ {
		for b := 0; b < bc.nb; b++ {
			k0, k1 := b*block, min((b+1)*block, K)
			lo, hi := blockRange(w, N, n, k0, k1)
			p := rangeParams(lo, hi, symmetric, 0)
			qmin, qmax := int32(0), int32(15)
			if symmetric {
				qmin, qmax = -8, 7
			}
			bc.scales[n*bc.nb+b], bc.zps[n*bc.nb+b] = p.scale, p.zp
			for k := k0; k < k1; k++ {
				v := float32(w[k*N+n] * p.recip)
				q := int32(roundf(v)) + int32(p.zp)
				bc.codes[n*K+k] = uint8(min(max(q, qmin), qmax)) & 0xf
			}
		}
	}
	return bc
}

// packQDQ lays bc out for DequantizeLinear(axis 0, block_size): the int4/uint4 weight
// [K, N] row-major, two elements a byte (the even index low); scales [nb, N]; zero points
// [nb, N] packed the same way (asymmetric only).
func packQDQ(bc *blockCodes, symmetric bool) (w []uint8, scales []float32, zp []uint8) {
	K, N, nb := bc.K, bc.N, bc.nb
	w = make([]uint8, (K*N+1)/2)
	for k := 0; k < K; k++ {
		for n := 0; n < N; n++ {
			i := k*N + n
			w[i/2] |= (bc.codes[n*K+k] & 0xf) << (4 * (i % 2))
		}
	}
	scales = make([]float32, nb*N)
	if !symmetric {
		zp = make([]uint8, (nb*N+1)/2)
	}
	for b := 0; b < nb; b++ {
		for n := 0; n < N; n++ {
			i := b*N + n
			scales[i] = bc.scales[n*nb+b]
			if zp != nil {
				zp[i/2] |= (bc.zps[n*nb+b] & 0xf) << (4 * (i % 2))
			}
		}
	}
	return w, scales, zp
}
