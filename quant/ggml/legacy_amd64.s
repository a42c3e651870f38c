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
