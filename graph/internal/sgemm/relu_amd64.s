//go:build amd64 && !purego

#include "textflag.h"

// func reluAVX2(d, s *float32, n int)
// d[i] = max(s[i], +0) for i < n, n a multiple of 32. VMAXPS returns its second source
// (+0) unless the first (s[i]) is greater: negatives, zeros of either sign and NaNs give
// +0, the positive numbers themselves (Relu's bits exactly).
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ   d+0(FP), DI
	MOVQ   s+8(FP), SI
	MOVQ   n+16(FP), CX
	SHRQ   $5, CX
	JE     done
	VXORPS Y0, Y0, Y0

loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMOVUPS 64(SI), Y3
	VMOVUPS 96(SI), Y4
	VMAXPS  Y0, Y1, Y1
	VMAXPS  Y0, Y2, Y2
	VMAXPS  Y0, Y3, Y3
	VMAXPS  Y0, Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNE     loop
	VZEROUPPER

done:
	RET

// func addAVX2(d, s *float32, n int)
// d[i] += s[i] for i < n, n a multiple of 32: one float32 addition each, as the loop.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	JE   adddone

addloop:
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VADDPS  (SI), Y1, Y1
	VADDPS  32(SI), Y2, Y2
	VADDPS  64(SI), Y3, Y3
	VADDPS  96(SI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNE     addloop
	VZEROUPPER

adddone:
	RET
