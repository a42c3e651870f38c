//go:build amd64 && !purego

#include "textflag.h"

// LOAD_ARGS_3x3 loads both kernels' arguments: dst, r0, r1, r2 in DI, SI, R8, R9, n in CX,
// b broadcast into Y15 and k[0..8] into Y0..Y8.
#define LOAD_ARGS_3x3 \
	MOVQ dst+0(FP), DI; \
	MOVQ r0+8(FP), SI; \
	MOVQ r1+16(FP), R8; \
	MOVQ r2+24(FP), R9; \
	MOVQ k+32(FP), AX; \
	VBROADCASTSS b+40(FP), Y15; \
	MOVQ n+48(FP), CX; \
	VBROADCASTSS 0(AX), Y0; \
	VBROADCASTSS 4(AX), Y1; \
	VBROADCASTSS 8(AX), Y2; \
	VBROADCASTSS 12(AX), Y3; \
	VBROADCASTSS 16(AX), Y4; \
	VBROADCASTSS 20(AX), Y5; \
	VBROADCASTSS 24(AX), Y6; \
	VBROADCASTSS 28(AX), Y7; \
	VBROADCASTSS 32(AX), Y8

// ROW_S2 adds one input row's three taps at a stride of 2 to Y9: the row at r, the weights
// broadcast in ka, kb, kc. Y10..Y14 are scratch.
#define ROW_S2(r, ka, kb, kc) \
	VMOVUPS 0(r), Y10; \
	VMOVUPS 32(r), Y11; \
	VSHUFPS $0x88, Y11, Y10, Y12; \
	VSHUFPS $0xDD, Y11, Y10, Y13; \
	VPERMPD $0xD8, Y12, Y12; \
	VPERMPD $0xD8, Y13, Y13; \
	VMOVUPS 4(r), Y10; \
	VMOVUPS 36(r), Y11; \
	VSHUFPS $0xDD, Y11, Y10, Y14; \
	VPERMPD $0xD8, Y14, Y14; \
	VMULPS Y12, ka, Y12; \
	VADDPS Y12, Y9, Y9; \
	VMULPS Y13, kb, Y13; \
	VADDPS Y13, Y9, Y9; \
	VMULPS Y14, kc, Y14; \
	VADDPS Y14, Y9, Y9

// func depthwise3x3AVX(dst, r0, r1, r2 *float32, k *[9]float32, b float32, n int)
// dst[i] = b + k[0]*r0[i] + k[1]*r0[i+1] + k[2]*r0[i+2] + k[3]*r1[i] + ... + k[8]*r2[i+2]
// for i in [0, n), n a multiple of 8: depthwiseRow's interior loop for a stride of 1, eight
// outputs per register, each product rounded and added in the same order as the scalar
// loop (no FMA). Sixteen outputs per round while they last, for two independent chains.
TEXT ·depthwise3x3AVX(SB), NOSPLIT, $0-56
	LOAD_ARGS_3x3

loop16:
	CMPQ CX, $16
	JLT  loop8
	VMULPS 0(SI), Y0, Y10
	VMULPS 32(SI), Y0, Y12
	VADDPS Y10, Y15, Y9
	VADDPS Y12, Y15, Y11
	VMULPS 4(SI), Y1, Y10
	VMULPS 36(SI), Y1, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 8(SI), Y2, Y10
	VMULPS 40(SI), Y2, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 0(R8), Y3, Y10
	VMULPS 32(R8), Y3, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 4(R8), Y4, Y10
	VMULPS 36(R8), Y4, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 8(R8), Y5, Y10
	VMULPS 40(R8), Y5, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 0(R9), Y6, Y10
	VMULPS 32(R9), Y6, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 4(R9), Y7, Y10
	VMULPS 36(R9), Y7, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMULPS 8(R9), Y8, Y10
	VMULPS 40(R9), Y8, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y12, Y11, Y11
	VMOVUPS Y9, 0(DI)
	VMOVUPS Y11, 32(DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop16

loop8:
	CMPQ CX, $8
	JLT  done
	VMULPS 0(SI), Y0, Y10
	VADDPS Y10, Y15, Y9
	VMULPS 4(SI), Y1, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 8(SI), Y2, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 0(R8), Y3, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 4(R8), Y4, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 8(R8), Y5, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 0(R9), Y6, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 4(R9), Y7, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 8(R9), Y8, Y10
	VADDPS Y10, Y9, Y9
	VMOVUPS Y9, 0(DI)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop8

done:
	VZEROUPPER
	RET

// func depthwise3x3S2AVX2(dst, r0, r1, r2 *float32, k *[9]float32, b float32, n int)
// depthwise3x3AVX at a stride of 2: dst[i] = b + k[0]*r0[2i] + k[1]*r0[2i+1] + k[2]*r0[2i+2]
// + ... + k[8]*r2[2i+2], n a multiple of 8. Each row's 16 values from 2i and from 2i+1 are
// split into their even and odd elements (VSHUFPS, then VPERMPD to put the halves in order):
// the evens of the first are the taps of k[0], its odds those of k[1], the odds of the
// second those of k[2]. The last value read is r[2n], the last tap.
TEXT ·depthwise3x3S2AVX2(SB), NOSPLIT, $0-56
	LOAD_ARGS_3x3

s2loop:
	CMPQ CX, $8
	JLT  s2done
	VMOVAPS Y15, Y9
	ROW_S2(SI, Y0, Y1, Y2)
	ROW_S2(R8, Y3, Y4, Y5)
	ROW_S2(R9, Y6, Y7, Y8)
	VMOVUPS Y9, 0(DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  s2loop

s2done:
	VZEROUPPER
	RET

// func depthwise3x2AVX(dst, r0, r1 *float32, k *[6]float32, b float32, n int)
// dst[i] = b + k[0]*r0[i] + k[1]*r0[i+1] + k[2]*r0[i+2] + k[3]*r1[i] + k[4]*r1[i+1] +
// k[5]*r1[i+2] for i in [0, n), n a multiple of 8: depthwise3x3AVX for the first or last
// row of a plane padded by one, whose taps lie in two input rows (k the two kernel rows
// inside), each product rounded and added in depthwiseEdgeRow's order (no FMA).
TEXT ·depthwise3x2AVX(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         r0+8(FP), SI
	MOVQ         r1+16(FP), R8
	MOVQ         k+24(FP), AX
	VBROADCASTSS b+32(FP), Y15
	MOVQ         n+40(FP), CX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5

loop2r:
	CMPQ   CX, $8
	JLT    done2r
	VMULPS 0(SI), Y0, Y10
	VADDPS Y10, Y15, Y9
	VMULPS 4(SI), Y1, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 8(SI), Y2, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 0(R8), Y3, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 4(R8), Y4, Y10
	VADDPS Y10, Y9, Y9
	VMULPS 8(R8), Y5, Y10
	VADDPS Y10, Y9, Y9
	VMOVUPS Y9, 0(DI)
	ADDQ   $32, SI
	ADDQ   $32, R8
	ADDQ   $32, DI
	SUBQ   $8, CX
	JMP    loop2r

done2r:
	VZEROUPPER
	RET
