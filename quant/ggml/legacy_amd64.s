//go:build amd64 && !purego

#include "textflag.h"

DATA q8absMask<>+0(SB)/4, $0x7fffffff
GLOBL q8absMask<>(SB), RODATA|NOPTR, $4
DATA q8signMask<>+0(SB)/4, $0x80000000
GLOBL q8signMask<>(SB), RODATA|NOPTR, $4
DATA q8half<>+0(SB)/4, $0x3f000000 // 0.5
GLOBL q8half<>(SB), RODATA|NOPTR, $4
DATA q8one<>+0(SB)/4, $0x3f800000 // 1.0
GLOBL q8one<>(SB), RODATA|NOPTR, $4
DATA q8c127<>+0(SB)/4, $0x42fe0000 // 127.0
GLOBL q8c127<>(SB), RODATA|NOPTR, $4

// VPACKSS works within 128-bit lanes; this VPERMD index puts the 4-byte groups back in
// element order.
DATA q8order<>+0(SB)/4, $0
DATA q8order<>+4(SB)/4, $4
DATA q8order<>+8(SB)/4, $1
DATA q8order<>+12(SB)/4, $5
DATA q8order<>+16(SB)/4, $2
DATA q8order<>+20(SB)/4, $6
DATA q8order<>+24(SB)/4, $3
DATA q8order<>+28(SB)/4, $7
GLOBL q8order<>(SB), RODATA|NOPTR, $32

// ROUNDF turns the lanes of R into roundf(R) as int32 (half away from zero): t = trunc(R),
// plus ±1 where |R - t| >= 0.5 (R - t is exact), then a truncating conversion.
#define ROUNDF(R) \
	VROUNDPS $3, R, Y6; \
	VSUBPS Y6, R, Y7; \
	VANDPS Y15, Y7, Y7; \
	VCMPPS $0x1d, Y14, Y7, Y7; \
	VANDPS Y10, R, Y8; \
	VORPS Y13, Y8, Y8; \
	VANDPS Y7, Y8, Y8; \
	VADDPS Y8, Y6, R; \
	VCVTTPS2DQ R, R

// func q8_0AVX2(y *byte, x *float32, nb int, d *float32)
// quantize_row_q8_0_ref for nb blocks of 32: d[b] = amax/127 and the 32 codes
// roundf(x * (1/d)) at y + 34*b + 2 (the caller stores d as fp16 at y + 34*b). Codes are
// saturated to int8, which differs from ggml only when 1/d overflows (the caller redoes
// those blocks).
TEXT ·q8_0AVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	MOVQ d+24(FP), DX
	VBROADCASTSS q8absMask<>(SB), Y15
	VBROADCASTSS q8half<>(SB), Y14
	VBROADCASTSS q8one<>(SB), Y13
	VBROADCASTSS q8c127<>(SB), Y12
	VMOVDQU q8order<>(SB), Y11
	VBROADCASTSS q8signMask<>(SB), Y10
	VXORPS Y9, Y9, Y9

q8block:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VMAXPS Y5, Y4, Y4
	VANDPS Y15, Y2, Y5
	VANDPS Y15, Y3, Y6
	VMAXPS Y6, Y5, Y5
	VMAXPS Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4
	// d = amax/127; id = d != 0 ? 1/d : 0
	VDIVSS X12, X4, X4
	VMOVSS X4, (DX)
	VDIVSS X4, X13, X5
	VCMPSS $4, X9, X4, X7
	VANDPS X7, X5, X5
	VBROADCASTSS X5, Y5
	VMULPS Y5, Y0, Y0
	VMULPS Y5, Y1, Y1
	VMULPS Y5, Y2, Y2
	VMULPS Y5, Y3, Y3
	ROUNDF(Y0)
	ROUNDF(Y1)
	ROUNDF(Y2)
	ROUNDF(Y3)
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y11, Y0
	VMOVDQU Y0, 2(DI)
	ADDQ $128, SI
	ADDQ $34, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q8block
	VZEROUPPER
	RET

// CODES32(BIAS) turns Y0..Y3 (32 floats, already scaled) into 32 int32 codes
// min(Y13, cvtt(v + BIAS)), packs them to bytes in element order and stores them at (DI).
#define CODES32(BIAS) \
	VADDPS BIAS, Y0, Y0; \
	VADDPS BIAS, Y1, Y1; \
	VADDPS BIAS, Y2, Y2; \
	VADDPS BIAS, Y3, Y3; \
	VCVTTPS2DQ Y0, Y0; \
	VCVTTPS2DQ Y1, Y1; \
	VCVTTPS2DQ Y2, Y2; \
	VCVTTPS2DQ Y3, Y3; \
	VPMINSD Y13, Y0, Y0; \
	VPMINSD Y13, Y1, Y1; \
	VPMINSD Y13, Y2, Y2; \
	VPMINSD Y13, Y3, Y3; \
	VPACKSSDW Y1, Y0, Y0; \
	VPACKSSDW Y3, Y2, Y2; \
	VPACKSSWB Y2, Y0, Y0; \
	VPERMD Y0, Y11, Y0; \
	VMOVDQU Y0, (DI)

// func symAVX2(codes *byte, d, x *float32, nb int, div, bias float32, qmax int32)
// quantize_row_q4_0_ref / _q5_0_ref for nb blocks of 32, before packing: max is the first
// element of largest magnitude (+0 for an all-zero block), d[b] = max/div, and the codes
// min(qmax, cvtt(x*(1/d) + bias)) at codes + 32*b. Exact when 1/d is finite (the caller
// redoes the other blocks).
TEXT ·symAVX2(SB), NOSPLIT, $0-44
	MOVQ codes+0(FP), DI
	MOVQ d+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ nb+24(FP), CX
	VBROADCASTSS q8absMask<>(SB), Y15
	VBROADCASTSS bias+36(FP), Y14
	MOVL qmax+40(FP), AX
	MOVL AX, X13
	VPBROADCASTD X13, Y13
	VBROADCASTSS q8one<>(SB), Y12
	VMOVDQU q8order<>(SB), Y11
	VXORPS Y10, Y10, Y10

symblock:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	VMAXPS Y5, Y4, Y8
	VMAXPS Y7, Y6, Y9
	VMAXPS Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VMAXPS X9, X8, X8
	VPERMILPS $0x4e, X8, X9
	VMAXPS X9, X8, X8
	VPERMILPS $0xb1, X8, X9
	VMAXPS X9, X8, X8
	// max = +0 when amax is 0, else the first x with |x| == amax
	VXORPS X9, X9, X9
	VUCOMISS X10, X8
	JE symhavemax
	VBROADCASTSS X8, Y8
	VCMPPS $0, Y8, Y4, Y4
	VCMPPS $0, Y8, Y5, Y5
	VCMPPS $0, Y8, Y6, Y6
	VCMPPS $0, Y8, Y7, Y7
	VMOVMSKPS Y4, AX
	VMOVMSKPS Y5, BX
	SHLL $8, BX
	ORL BX, AX
	VMOVMSKPS Y6, BX
	SHLL $16, BX
	ORL BX, AX
	VMOVMSKPS Y7, BX
	SHLL $24, BX
	ORL BX, AX
	BSFL AX, AX
	VMOVSS (SI)(AX*4), X9

symhavemax:
	VDIVSS div+32(FP), X9, X9
	VMOVSS X9, (DX)
	VDIVSS X9, X12, X8
	VCMPSS $4, X10, X9, X7
	VANDPS X7, X8, X8
	VBROADCASTSS X8, Y8
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3
	CODES32(Y14)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ symblock
	VZEROUPPER
	RET

// func asymAVX2(codes *byte, d, m, mx, x *float32, nb int, div float32, qmax int32)
// quantize_row_q4_1_ref / _q5_1_ref for nb blocks of 32, before packing: m[b] = min,
// mx[b] = max, d[b] = (max-min)/div, codes min(qmax, cvtt((x-min)*(1/d) + 0.5)). Exact
// when d and 1/d are finite and neither min nor max is zero (whose sign ggml takes from
// the first such element; the caller redoes those blocks).
TEXT ·asymAVX2(SB), NOSPLIT, $0-56
	MOVQ codes+0(FP), DI
	MOVQ d+8(FP), DX
	MOVQ m+16(FP), R8
	MOVQ mx+24(FP), R9
	MOVQ x+32(FP), SI
	MOVQ nb+40(FP), CX
	VBROADCASTSS q8half<>(SB), Y14
	MOVL qmax+52(FP), AX
	MOVL AX, X13
	VPBROADCASTD X13, Y13
	VBROADCASTSS q8one<>(SB), Y12
	VMOVDQU q8order<>(SB), Y11
	VXORPS Y10, Y10, Y10

asymblock:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMINPS Y1, Y0, Y4
	VMINPS Y3, Y2, Y5
	VMINPS Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMINPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMINPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMINPS X5, X4, X4
	VMAXPS Y1, Y0, Y6
	VMAXPS Y3, Y2, Y7
	VMAXPS Y7, Y6, Y6
	VEXTRACTF128 $1, Y6, X7
	VMAXPS X7, X6, X6
	VPERMILPS $0x4e, X6, X7
	VMAXPS X7, X6, X6
	VPERMILPS $0xb1, X6, X7
	VMAXPS X7, X6, X6
	VMOVSS X4, (R8)
	VMOVSS X6, (R9)
	// d = (max - min)/div; id = d != 0 ? 1/d : 0
	VSUBSS X4, X6, X6
	VDIVSS div+48(FP), X6, X6
	VMOVSS X6, (DX)
	VDIVSS X6, X12, X8
	VCMPSS $4, X10, X6, X7
	VANDPS X7, X8, X8
	VBROADCASTSS X8, Y8
	VBROADCASTSS X4, Y4
	VSUBPS Y4, Y0, Y0
	VSUBPS Y4, Y1, Y1
	VSUBPS Y4, Y2, Y2
	VSUBPS Y4, Y3, Y3
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3
	CODES32(Y14)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ asymblock
	VZEROUPPER
	RET

DATA nfExp<>+0(SB)/4, $0x7f800000
GLOBL nfExp<>(SB), RODATA|NOPTR, $4
DATA nfCarry<>+0(SB)/4, $0x00800000
GLOBL nfCarry<>(SB), RODATA|NOPTR, $4

// func anyNonFiniteAVX2(x *float32, n int) bool
// Whether any of the n floats (n a positive multiple of 32) is NaN or ±Inf: an all-ones
// exponent plus 2^23 carries into the sign bit.
TEXT ·anyNonFiniteAVX2(SB), NOSPLIT, $0-17
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $5, CX
	VPBROADCASTD nfExp<>(SB), Y15
	VPBROADCASTD nfCarry<>(SB), Y14
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1

nfloop:
	VPAND 0(SI), Y15, Y2
	VPAND 32(SI), Y15, Y3
	VPAND 64(SI), Y15, Y4
	VPAND 96(SI), Y15, Y5
	VPADDD Y14, Y2, Y2
	VPADDD Y14, Y3, Y3
	VPADDD Y14, Y4, Y4
	VPADDD Y14, Y5, Y5
	VPOR Y2, Y0, Y0
	VPOR Y3, Y1, Y1
	VPOR Y4, Y0, Y0
	VPOR Y5, Y1, Y1
	ADDQ $128, SI
	DECQ CX
	JNZ nfloop
	VPOR Y1, Y0, Y0
	VMOVMSKPS Y0, AX
	TESTL AX, AX
	SETNE ret+16(FP)
	VZEROUPPER
	RET

DATA rqMagic<>+0(SB)/4, $0x4b400000
GLOBL rqMagic<>(SB), RODATA|NOPTR, $4
DATA rqMant<>+0(SB)/4, $0x007fffff
GLOBL rqMant<>(SB), RODATA|NOPTR, $4
DATA rqHalf<>+0(SB)/4, $0x00400000
GLOBL rqHalf<>(SB), RODATA|NOPTR, $4

// func requantAVX2(L *byte, x, d, m *float32, groups int, lo, hi, off int32)
// The last step of the k-quants for groups of 16 elements: for each group g with
// d[g] != 0, L = clamp(nearest_int((x + m[g]) / d[g]), lo, hi) + off as bytes; groups with
// d[g] == 0 keep their L. (x + 0 differs from x only for -0, which rounds the same.)
TEXT ·requantAVX2(SB), NOSPLIT, $0-52
	MOVQ L+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ d+16(FP), DX
	MOVQ m+24(FP), R8
	MOVQ groups+32(FP), CX
	MOVL lo+40(FP), AX
	MOVL AX, X13
	VPBROADCASTD X13, Y13
	MOVL hi+44(FP), AX
	MOVL AX, X14
	VPBROADCASTD X14, Y14
	MOVL off+48(FP), AX
	MOVL AX, X15
	VPBROADCASTD X15, Y15
	VBROADCASTSS rqMagic<>(SB), Y12
	VPBROADCASTD rqMant<>(SB), Y11
	VPBROADCASTD rqHalf<>(SB), Y10
	VXORPS X9, X9, X9

rqgroup:
	VMOVSS (DX), X8
	VUCOMISS X9, X8
	JNE rqdo
	JPS rqdo // NaN: C's !d is false
	JMP rqnext

rqdo:
	VBROADCASTSS X8, Y8
	VBROADCASTSS (R8), Y7
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VADDPS Y7, Y0, Y0
	VADDPS Y7, Y1, Y1
	VDIVPS Y8, Y0, Y0
	VDIVPS Y8, Y1, Y1
	VADDPS Y12, Y0, Y0
	VADDPS Y12, Y1, Y1
	VPAND Y11, Y0, Y0
	VPAND Y11, Y1, Y1
	VPSUBD Y10, Y0, Y0
	VPSUBD Y10, Y1, Y1
	VPMAXSD Y13, Y0, Y0
	VPMAXSD Y13, Y1, Y1
	VPMINSD Y14, Y0, Y0
	VPMINSD Y14, Y1, Y1
	VPADDD Y15, Y0, Y0
	VPADDD Y15, Y1, Y1
	VPACKSSDW Y1, Y0, Y0
	VPERMQ $0xd8, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKSSWB X1, X0, X0
	VMOVDQU X0, (DI)

rqnext:
	ADDQ $64, SI
	ADDQ $16, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ rqgroup
	VZEROUPPER
	RET
