//go:build amd64 && !purego

#include "textflag.h"

DATA binLo<>+0(SB)/8, $-129.0
GLOBL binLo<>(SB), RODATA, $8
DATA binHi<>+0(SB)/8, $128.0
GLOBL binHi<>(SB), RODATA, $8

// func displayBinsAVX2(dst *int32, src *float32, n int, inv float64)
// dst[i] = min(max(int(floor(float64(src[i])*inv)) + 128, 0), 255), the bin of
// displayHistogram.count, four values at a time in float64. The product is clamped to
// [-129, 128] before the conversion, which then never overflows. n is a multiple of 4.
TEXT ·displayBinsAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSD inv+24(FP), Y8
	VBROADCASTSD binLo<>(SB), Y9
	VBROADCASTSD binHi<>(SB), Y10
	MOVL $128, AX
	MOVD AX, X11
	VPBROADCASTD X11, X11       // 128
	VPXOR X12, X12, X12         // 0
	MOVL $255, AX
	MOVD AX, X13
	VPBROADCASTD X13, X13       // 255
	TESTQ CX, CX
	JZ binsDone

binsLoop:
	VCVTPS2PD 0(SI), Y0
	VMULPD Y8, Y0, Y0
	VROUNDPD $1, Y0, Y0         // floor
	VMAXPD Y9, Y0, Y0
	VMINPD Y10, Y0, Y0
	VCVTTPD2DQY Y0, X1
	VPADDD X11, X1, X1
	VPMAXSD X12, X1, X1
	VPMINSD X13, X1, X1
	VMOVDQU X1, 0(DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JNZ binsLoop

binsDone:
	VZEROUPPER
	RET
