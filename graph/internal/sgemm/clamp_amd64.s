//go:build amd64 && !purego

#include "textflag.h"

// func clampAVX(d, src *float32, n int, lo, hi float32)
// d[i] = min(hi, max(lo, src[i])) in MAXPS/MINPS's operand order, which returns the second
// operand (the value) when a comparison is false: (lo > v ? lo : v), then (hi < r ? hi : r),
// so NaN and -0 pass through as in Clamp's loop. n is a multiple of 8; d may be src.
TEXT ·clampAVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS lo+24(FP), Y14
	VBROADCASTSS hi+28(FP), Y15

clamp32:
	CMPQ CX, $32
	JLT  clamp8
	VMAXPS 0(SI), Y14, Y0
	VMAXPS 32(SI), Y14, Y1
	VMAXPS 64(SI), Y14, Y2
	VMAXPS 96(SI), Y14, Y3
	VMINPS Y0, Y15, Y0
	VMINPS Y1, Y15, Y1
	VMINPS Y2, Y15, Y2
	VMINPS Y3, Y15, Y3
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  clamp32

clamp8:
	CMPQ CX, $8
	JLT  clampDone
	VMAXPS 0(SI), Y14, Y0
	VMINPS Y0, Y15, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  clamp8

clampDone:
	VZEROUPPER
	RET
