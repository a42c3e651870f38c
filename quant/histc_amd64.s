//go:build amd64 && !purego

#include "textflag.h"

// func histcIndexAVX2(dst *int32, src *float32, n int, left, right, nb, span, last float32, lanes *[256][8]int32) (kept, zeros int)
// The histc bin of src[i] (Histogram.histc's bin): pos = ((src[i]-left)*nb)/span rounded
// step by step as float32, last when pos >= last, int(pos) when pos > 0, and 0 otherwise.
// The bins of the values inside [left, right] that are not ±0 are packed to the front of
// dst in order (lanes[m] lists the set bits of m: the lanes kept), and their number
// returned; zeros counts the ±0 values (one bin holds them all, or none when 0 is outside
// the range). n is a multiple of 8.
TEXT ·histcIndexAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS left+24(FP), Y8
	VBROADCASTSS right+28(FP), Y9
	VBROADCASTSS nb+32(FP), Y10
	VBROADCASTSS span+36(FP), Y11
	VBROADCASTSS last+40(FP), Y12
	MOVQ lanes+48(FP), R8
	VCVTTPS2DQ Y12, Y13     // last as an int32
	VXORPS Y14, Y14, Y14    // 0
	XORQ DX, DX             // kept
	XORQ R9, R9             // zeros
	TESTQ CX, CX
	JZ histcDone

histcLoop:
	VMOVUPS 0(SI), Y0
	VSUBPS Y8, Y0, Y1          // v - left
	VMULPS Y10, Y1, Y1         // * nb
	VDIVPS Y11, Y1, Y1         // / span
	VCMPPS $0x1D, Y12, Y1, Y2  // pos >= last (ordered)
	VCMPPS $0x1E, Y14, Y1, Y3  // pos > 0 (ordered)
	VCVTTPS2DQ Y1, Y4
	VPAND Y3, Y4, Y4           // int(pos) where pos > 0, else 0
	VBLENDVPS Y2, Y13, Y4, Y4  // last where pos >= last
	VCMPPS $0x1D, Y8, Y0, Y5   // v >= left
	VCMPPS $0x12, Y9, Y0, Y6   // v <= right
	VANDPS Y6, Y5, Y5          // inside
	VCMPPS $0x00, Y14, Y0, Y7  // v == ±0
	VANDNPS Y5, Y7, Y5         // inside and not zero: kept
	VMOVMSKPS Y7, AX
	POPCNTL AX, AX
	ADDQ AX, R9
	VMOVMSKPS Y5, AX
	MOVQ AX, BX
	SHLQ $5, BX
	VMOVDQU 0(R8)(BX*1), Y6    // the kept lanes, in order
	VPERMD Y4, Y6, Y4
	VMOVDQU Y4, 0(DI)(DX*4)
	POPCNTL AX, AX
	ADDQ AX, DX
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ histcLoop

histcDone:
	MOVQ DX, kept+56(FP)
	MOVQ R9, zeros+64(FP)
	VZEROUPPER
	RET
