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

DATA binLo32<>+0(SB)/4, $-129.0
GLOBL binLo32<>(SB), RODATA, $4
DATA binHi32<>+0(SB)/4, $128.0
GLOBL binHi32<>(SB), RODATA, $4

// func displayBins32AVX2(dst *int32, src *float32, n int, inv float32, lut *[256][8]int32, acc *[24]float32) (kept int)
// displayBinsAVX2 in float32, eight values at a time, for an inv that is a power of two
// and a normal float32: src[i]*inv is then exact unless it underflows, which moves it
// toward 0 but never across an integer, except that a negative product may round to -0,
// whose floor would be 0 instead of -1; where src[i] < 0 and the product is 0, 1 is
// subtracted. The bins of the values that are not ±0 are packed to the front of dst in
// order (lut[m] lists the set bits of m: the lanes kept) and their number returned; the
// zeros all have bin 128. acc holds eight lanes each of the least and greatest values and
// of a NaN flag (all ones where a NaN was met), updated. n is a multiple of 8.
TEXT ·displayBins32AVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Y8
	MOVQ lut+32(FP), R8
	MOVQ acc+40(FP), R9
	VMOVUPS 0(R9), Y14          // least
	VMOVUPS 32(R9), Y15         // greatest
	VMOVUPS 64(R9), Y7          // NaN met
	VBROADCASTSS binLo32<>(SB), Y9
	VBROADCASTSS binHi32<>(SB), Y10
	MOVL $128, AX
	MOVD AX, X11
	VPBROADCASTD X11, Y11       // 128
	VPXOR Y12, Y12, Y12         // 0
	MOVL $255, AX
	MOVD AX, X13
	VPBROADCASTD X13, Y13       // 255
	XORQ DX, DX                 // kept
	TESTQ CX, CX
	JZ bins32Done

bins32Loop:
	VMOVUPS 0(SI), Y0
	VMINPS Y0, Y14, Y14
	VMAXPS Y0, Y15, Y15
	VCMPPS $0x03, Y0, Y0, Y6    // NaN
	VORPS Y6, Y7, Y7
	VMULPS Y8, Y0, Y1
	VCMPPS $0x11, Y12, Y0, Y2   // v < 0 (ordered)
	VCMPPS $0x00, Y12, Y1, Y3   // product == ±0
	VANDPS Y3, Y2, Y2           // -1 where the floor of -0 must be -1
	VROUNDPS $1, Y1, Y1         // floor
	VMAXPS Y9, Y1, Y1
	VMINPS Y10, Y1, Y1
	VCVTTPS2DQ Y1, Y1
	VPADDD Y2, Y1, Y1
	VPADDD Y11, Y1, Y1
	VPMAXSD Y12, Y1, Y1
	VPMINSD Y13, Y1, Y1
	VCMPPS $0x04, Y12, Y0, Y4   // v != ±0
	VMOVMSKPS Y4, AX
	MOVQ AX, BX
	SHLQ $5, BX
	VMOVDQU 0(R8)(BX*1), Y5     // the kept lanes, in order
	VPERMD Y1, Y5, Y1
	VMOVDQU Y1, 0(DI)(DX*4)
	POPCNTL AX, AX
	ADDQ AX, DX
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ bins32Loop

bins32Done:
	VMOVUPS Y14, 0(R9)
	VMOVUPS Y15, 32(R9)
	VMOVUPS Y7, 64(R9)
	MOVQ DX, kept+48(FP)
	VZEROUPPER
	RET
