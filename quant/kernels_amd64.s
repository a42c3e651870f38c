//go:build amd64 && !purego

#include "textflag.h"

// AVX2 and F16C kernels. Each processes n elements, n a positive multiple of 32; the Go
// wrappers in kernels_amd64.go run the tail with the pure-Go reference loops, and
// kernels_amd64_test.go proves both equal on every case they test.

DATA posInf<>+0(SB)/4, $0x7f800000
GLOBL posInf<>(SB), RODATA|NOPTR, $4
DATA negInf<>+0(SB)/4, $0xff800000
GLOBL negInf<>(SB), RODATA|NOPTR, $4
DATA one32<>+0(SB)/4, $1
GLOBL one32<>(SB), RODATA|NOPTR, $4
DATA bf16Bias<>+0(SB)/4, $0x7fff
GLOBL bf16Bias<>(SB), RODATA|NOPTR, $4
DATA bf16Quiet<>+0(SB)/4, $0x40
GLOBL bf16Quiet<>(SB), RODATA|NOPTR, $4

// VPACKSS/US work within 128-bit lanes; this VPERMD index puts the four 4-byte groups of
// each lane back in source order.
DATA packOrder<>+0(SB)/4, $0
DATA packOrder<>+4(SB)/4, $4
DATA packOrder<>+8(SB)/4, $1
DATA packOrder<>+12(SB)/4, $5
DATA packOrder<>+16(SB)/4, $2
DATA packOrder<>+20(SB)/4, $6
DATA packOrder<>+24(SB)/4, $3
DATA packOrder<>+28(SB)/4, $7
GLOBL packOrder<>(SB), RODATA|NOPTR, $32

// QUANT32 quantizes 32 floats at SI into 32 bytes at DI:
// clamp(x OP Y15, Y14, Y13), round half even, + Y12, to int32, packed to bytes with PACKB.
// Y11 accumulates x-x, which is non-zero (NaN) only for NaN and ±Inf.
#define QUANT32(OP, PACKB) \
	VMOVUPS 0(SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	VMOVUPS 64(SI), Y2; \
	VMOVUPS 96(SI), Y3; \
	VSUBPS Y0, Y0, Y4; \
	VSUBPS Y1, Y1, Y5; \
	VSUBPS Y2, Y2, Y6; \
	VSUBPS Y3, Y3, Y7; \
	VORPS Y4, Y5, Y4; \
	VORPS Y6, Y7, Y6; \
	VORPS Y4, Y11, Y11; \
	VORPS Y6, Y11, Y11; \
	OP Y15, Y0, Y0; \
	OP Y15, Y1, Y1; \
	OP Y15, Y2, Y2; \
	OP Y15, Y3, Y3; \
	VMAXPS Y14, Y0, Y0; \
	VMAXPS Y14, Y1, Y1; \
	VMAXPS Y14, Y2, Y2; \
	VMAXPS Y14, Y3, Y3; \
	VMINPS Y13, Y0, Y0; \
	VMINPS Y13, Y1, Y1; \
	VMINPS Y13, Y2, Y2; \
	VMINPS Y13, Y3, Y3; \
	VROUNDPS $8, Y0, Y0; \
	VROUNDPS $8, Y1, Y1; \
	VROUNDPS $8, Y2, Y2; \
	VROUNDPS $8, Y3, Y3; \
	VADDPS Y12, Y0, Y0; \
	VADDPS Y12, Y1, Y1; \
	VADDPS Y12, Y2, Y2; \
	VADDPS Y12, Y3, Y3; \
	VCVTPS2DQ Y0, Y0; \
	VCVTPS2DQ Y1, Y1; \
	VCVTPS2DQ Y2, Y2; \
	VCVTPS2DQ Y3, Y3; \
	VPACKSSDW Y1, Y0, Y0; \
	VPACKSSDW Y3, Y2, Y2; \
	PACKB Y2, Y0, Y0; \
	VPERMD Y0, Y10, Y0; \
	VMOVDQU Y0, 0(DI); \
	ADDQ $128, SI; \
	ADDQ $32, DI

#define QUANT_PROLOGUE \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
	VBROADCASTSS mul+24(FP), Y15; \
	VBROADCASTSS lo+28(FP), Y14; \
	VBROADCASTSS hi+32(FP), Y13; \
	VBROADCASTSS zp+36(FP), Y12; \
	VMOVDQU packOrder<>(SB), Y10; \
	VXORPS Y11, Y11, Y11

#define QUANT_EPILOGUE \
	VPTEST Y11, Y11; \
	SETNE bad+40(FP); \
	VZEROUPPER; \
	RET

// BF16ROUND turns the float32 bits in A into bfloat16 bits in the low half of each lane:
// (u + 0x7fff + ((u>>16)&1)) >> 16, or (u>>16) | 0x40 for NaN (tensor.F32ToBF16).
#define BF16ROUND(A) \
	VPSRLD    $16, A, Y4; \
	VPAND     Y15, Y4, Y5; \
	VPADDD    Y14, Y5, Y5; \
	VPADDD    A, Y5, Y5; \
	VPSRLD    $16, Y5, Y5; \
	VPOR      Y13, Y4, Y4; \
	VCMPPS    $3, A, A, Y6; \
	VPBLENDVB Y6, Y4, Y5, A

// DIVCLAMP scales the eight values in U as divClampAVX2 does, with s, lo and hi broadcast
// in the frame at 0, 32 and 64.
#define DIVCLAMP(U) \
	VDIVPS 0(SP), U, U; \
	VMAXPS 32(SP), U, U; \
	VMINPS 64(SP), U, U

// func minMaxAVX2(src *float32, n int, out *[16]float32) (nan bool)
// out[0:8] receives lane minimums, out[8:16] lane maximums.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ out+16(FP), DI
	VBROADCASTSS posInf<>(SB), Y4
	VMOVAPS Y4, Y5
	VBROADCASTSS negInf<>(SB), Y6
	VMOVAPS Y6, Y7
	VXORPS Y8, Y8, Y8

minmaxLoop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMINPS Y0, Y4, Y4
	VMINPS Y1, Y5, Y5
	VMAXPS Y0, Y6, Y6
	VMAXPS Y1, Y7, Y7
	VMINPS Y2, Y4, Y4
	VMINPS Y3, Y5, Y5
	VMAXPS Y2, Y6, Y6
	VMAXPS Y3, Y7, Y7
	VCMPPS $3, Y1, Y0, Y9   // unordered: either is NaN
	VCMPPS $3, Y3, Y2, Y10
	VORPS  Y9, Y8, Y8
	VORPS  Y10, Y8, Y8
	ADDQ   $128, SI
	SUBQ   $32, CX
	JNZ    minmaxLoop

	VMINPS  Y5, Y4, Y4
	VMAXPS  Y7, Y6, Y6
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y6, 32(DI)
	VPTEST  Y8, Y8
	SETNE   nan+24(FP)
	VZEROUPPER
	RET

// func quantizeI8MulAVX2(dst *int8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)
TEXT ·quantizeI8MulAVX2(SB), NOSPLIT, $0-41
	QUANT_PROLOGUE
qi8mul:
	QUANT32(VMULPS, VPACKSSWB)
	SUBQ $32, CX
	JNZ  qi8mul
	QUANT_EPILOGUE

// func quantizeU8MulAVX2(dst *uint8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)
TEXT ·quantizeU8MulAVX2(SB), NOSPLIT, $0-41
	QUANT_PROLOGUE
qu8mul:
	QUANT32(VMULPS, VPACKUSWB)
	SUBQ $32, CX
	JNZ  qu8mul
	QUANT_EPILOGUE

// func quantizeI8DivAVX2(dst *int8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)
TEXT ·quantizeI8DivAVX2(SB), NOSPLIT, $0-41
	QUANT_PROLOGUE
qi8div:
	QUANT32(VDIVPS, VPACKSSWB)
	SUBQ $32, CX
	JNZ  qi8div
	QUANT_EPILOGUE

// func quantizeU8DivAVX2(dst *uint8, src *float32, n int, mul, lo, hi, zp float32) (bad bool)
TEXT ·quantizeU8DivAVX2(SB), NOSPLIT, $0-41
	QUANT_PROLOGUE
qu8div:
	QUANT32(VDIVPS, VPACKUSWB)
	SUBQ $32, CX
	JNZ  qu8div
	QUANT_EPILOGUE

// func f32ToF16F16C(dst *uint16, src *float32, n int)
TEXT ·f32ToF16F16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

f16loop:
	VMOVUPS   0(SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VCVTPS2PH $0, Y0, X0   // imm 0: round to nearest even
	VCVTPS2PH $0, Y1, X1
	VCVTPS2PH $0, Y2, X2
	VCVTPS2PH $0, Y3, X3
	VMOVDQU   X0, 0(DI)
	VMOVDQU   X1, 16(DI)
	VMOVDQU   X2, 32(DI)
	VMOVDQU   X3, 48(DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JNZ       f16loop
	VZEROUPPER
	RET

// func f16ToF32F16C(dst *float32, src *uint16, n int)
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

f16wide:
	VCVTPH2PS 0(SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JNZ       f16wide
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst *float32, src *uint16, n int)
// bfloat16 bits are a float32's high half: each is zero-extended and shifted up 16 bits,
// 32 at a time (n a positive multiple of 32). (The Go loop measured 0.6 ns a value in the
// streaming save's statistics of bf16 casts, a third of its CPU time.)
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

bf16wide:
	VPMOVZXWD 0(SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPMOVZXWD 32(SI), Y2
	VPMOVZXWD 48(SI), Y3
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JNZ       bf16wide
	VZEROUPPER
	RET

// func f32ToBF16AVX2(dst *uint16, src *float32, n int)
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VPBROADCASTD one32<>(SB), Y15
	VPBROADCASTD bf16Bias<>(SB), Y14
	VPBROADCASTD bf16Quiet<>(SB), Y13

bf16loop:
	VMOVDQU   0(SI), Y0
	VMOVDQU   32(SI), Y1
	VMOVDQU   64(SI), Y2
	VMOVDQU   96(SI), Y3
	BF16ROUND(Y0)
	BF16ROUND(Y1)
	BF16ROUND(Y2)
	BF16ROUND(Y3)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPERMQ    $0xD8, Y0, Y0
	VPERMQ    $0xD8, Y2, Y2
	VMOVDQU   Y0, 0(DI)
	VMOVDQU   Y2, 32(DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	JNZ       bf16loop
	VZEROUPPER
	RET

DATA int4Offset<>+0(SB)/1, $8
GLOBL int4Offset<>(SB), RODATA|NOPTR, $1
DATA int4High<>+0(SB)/1, $0xf0
GLOBL int4High<>(SB), RODATA|NOPTR, $1
DATA nibbleWeights<>+0(SB)/2, $0x1001
GLOBL nibbleWeights<>(SB), RODATA|NOPTR, $2

// func packInt4AVX2(dst *int32, src *int8, n int) (ok bool)
// Packs n int4 codes (n a multiple of 32) into n/8 compressed-tensors words: u = q+8;
// VPMADDUBSW with weights (1, 16) makes each byte pair u[2i] + 16*u[2i+1], VPACKUSWB
// narrows the pairs to bytes, and four consecutive bytes are the little-endian word
// u0 | u1<<4 | ... | u7<<28. ok is false when some q+8 is outside 0..15.
TEXT ·packInt4AVX2(SB), NOSPLIT, $0-25
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VPBROADCASTB int4Offset<>(SB), Y15
	VPBROADCASTW nibbleWeights<>(SB), Y14
	VPBROADCASTB int4High<>(SB), Y13
	VPXOR        Y12, Y12, Y12

packLoop:
	VMOVDQU    0(SI), Y0
	VPADDB     Y15, Y0, Y0
	VPOR       Y0, Y12, Y12
	VPMADDUBSW Y14, Y0, Y0
	VPACKUSWB  Y0, Y0, Y0
	VPERMQ     $0x08, Y0, Y0
	VMOVDQU    X0, 0(DI)
	ADDQ       $32, SI
	ADDQ       $16, DI
	SUBQ       $32, CX
	JNZ        packLoop

	VPTEST Y13, Y12
	SETEQ  ok+24(FP)
	VZEROUPPER
	RET

DATA fp8AbsMask<>+0(SB)/4, $0x7fffffff
GLOBL fp8AbsMask<>(SB), RODATA|NOPTR, $4
DATA fp8SignByte<>+0(SB)/4, $0x80
GLOBL fp8SignByte<>(SB), RODATA|NOPTR, $4

// F8ENC encodes the eight float32 lanes in U as fp8 codes in the low byte of R's lanes,
// the arithmetic of quant/fp8.go (f8E4M3Magnitude) with the format's constants in the
// fp8Consts vectors at R8: 0 half-1, 32 largest finite r, 64 rebias, 96 subnormal magic,
// 128 smallest normal's bits - 1, 160 NaN code; X10 holds the dropped bit count d.
// U, T, S and M are clobbered.
#define F8ENC(U, R, T, S, M) \
	VPAND     Y15, U, R; \
	VPSRLD    X10, R, T; \
	VPAND     Y14, T, T; \
	VPADDD    R, T, T; \
	VPADDD    0(R8), T, T; \
	VPSRLD    X10, T, T; \
	VPMINUD   32(R8), T, T; \
	VPSUBD    64(R8), T, T; \
	VADDPS    96(R8), R, S; \
	VPSUBD    96(R8), S, S; \
	VPCMPGTD  128(R8), R, M; \
	VPBLENDVB M, T, S, T; \
	VPCMPGTD  Y13, R, M; \
	VPBLENDVB M, 160(R8), T, T; \
	VPSRLD    $24, U, U; \
	VPAND     Y12, U, U; \
	VPOR      U, T, R

// func f32ToF8AVX2(dst *uint8, src *float32, n int, c *fp8Consts)
TEXT ·f32ToF8AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         c+24(FP), R8
	VPBROADCASTD fp8AbsMask<>(SB), Y15
	VPBROADCASTD one32<>(SB), Y14
	VPBROADCASTD posInf<>(SB), Y13
	VPBROADCASTD fp8SignByte<>(SB), Y12
	VMOVDQU      packOrder<>(SB), Y11
	VMOVQ        192(R8), X10

f8loop:
	VMOVDQU   0(SI), Y0
	VMOVDQU   32(SI), Y5
	F8ENC(Y0, Y1, Y2, Y3, Y4)
	F8ENC(Y5, Y6, Y7, Y8, Y9)
	VPACKSSDW Y6, Y1, Y1
	VMOVDQU   64(SI), Y0
	VMOVDQU   96(SI), Y6
	F8ENC(Y0, Y2, Y3, Y4, Y5)
	F8ENC(Y6, Y7, Y8, Y9, Y0)
	VPACKSSDW Y7, Y2, Y2
	VPACKUSWB Y2, Y1, Y1
	VPERMD    Y1, Y11, Y1
	VMOVDQU   Y1, 0(DI)
	ADDQ      $128, SI
	ADDQ      $32, DI
	SUBQ      $32, CX
	JNZ       f8loop
	VZEROUPPER
	RET

// func f32ToF8ScaledAVX2(dst *uint8, src *float32, n int, c *fp8Consts, s, lo, hi float32)
// f32ToF8AVX2 of min(max(src/s, lo), hi), in one pass (the arithmetic of divClampAVX2).
TEXT ·f32ToF8ScaledAVX2(SB), NOSPLIT, $96-44
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         c+24(FP), R8
	VBROADCASTSS s+32(FP), Y0
	VMOVUPS      Y0, 0(SP)
	VBROADCASTSS lo+36(FP), Y0
	VMOVUPS      Y0, 32(SP)
	VBROADCASTSS hi+40(FP), Y0
	VMOVUPS      Y0, 64(SP)
	VPBROADCASTD fp8AbsMask<>(SB), Y15
	VPBROADCASTD one32<>(SB), Y14
	VPBROADCASTD posInf<>(SB), Y13
	VPBROADCASTD fp8SignByte<>(SB), Y12
	VMOVDQU      packOrder<>(SB), Y11
	VMOVQ        192(R8), X10

f8sLoop:
	VMOVDQU   0(SI), Y0
	VMOVDQU   32(SI), Y5
	DIVCLAMP(Y0)
	DIVCLAMP(Y5)
	F8ENC(Y0, Y1, Y2, Y3, Y4)
	F8ENC(Y5, Y6, Y7, Y8, Y9)
	VPACKSSDW Y6, Y1, Y1
	VMOVDQU   64(SI), Y0
	VMOVDQU   96(SI), Y6
	DIVCLAMP(Y0)
	DIVCLAMP(Y6)
	F8ENC(Y0, Y2, Y3, Y4, Y5)
	F8ENC(Y6, Y7, Y8, Y9, Y0)
	VPACKSSDW Y7, Y2, Y2
	VPACKUSWB Y2, Y1, Y1
	VPERMD    Y1, Y11, Y1
	VMOVDQU   Y1, 0(DI)
	ADDQ      $128, SI
	ADDQ      $32, DI
	SUBQ      $32, CX
	JNZ       f8sLoop
	VZEROUPPER
	RET

// F8ENC512 is F8ENC on the sixteen lanes of U, with the fp8Consts broadcast in Z16-Z21
// (half-1, largest finite r, rebias, subnormal magic, smallest normal's bits - 1, NaN
// code), the masks in Z12-Z15 as F8ENC's and the blends under the mask registers KA and KB
// instead of VPBLENDVB. U, T, S are clobbered; the codes are in R's lanes.
#define F8ENC512(U, R, T, S, KA, KB) \
	VPANDD    Z15, U, R; \
	VPSRLD    X10, R, T; \
	VPANDD    Z14, T, T; \
	VPADDD    R, T, T; \
	VPADDD    Z16, T, T; \
	VPSRLD    X10, T, T; \
	VPMINUD   Z17, T, T; \
	VPSUBD    Z18, T, T; \
	VADDPS    Z19, R, S; \
	VPSUBD    Z19, S, S; \
	VPCMPGTD  Z20, R, KA; \
	VPBLENDMD T, S, KA, T; \
	VPCMPGTD  Z13, R, KB; \
	VMOVDQA32 Z21, KB, T; \
	VPSRLD    $24, U, U; \
	VPANDD    Z12, U, U; \
	VPORD     U, T, R

// func f32ToF8ScaledAVX512(dst *uint8, src *float32, n int, c *fp8Consts, s, lo, hi float32)
// f32ToF8ScaledAVX2 sixteen lanes at a time (n a positive multiple of 32): the same
// division, clamps (same operand order) and encoding, the codes narrowed with VPMOVDB
// (every code is below 256, as VPACKSSDW and VPACKUSWB leave it).
TEXT ·f32ToF8ScaledAVX512(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         c+24(FP), R8
	VBROADCASTSS s+32(FP), Z22
	VBROADCASTSS lo+36(FP), Z23
	VBROADCASTSS hi+40(FP), Z24
	VPBROADCASTD fp8AbsMask<>(SB), Z15
	VPBROADCASTD one32<>(SB), Z14
	VPBROADCASTD posInf<>(SB), Z13
	VPBROADCASTD fp8SignByte<>(SB), Z12
	VPBROADCASTD 0(R8), Z16
	VPBROADCASTD 32(R8), Z17
	VPBROADCASTD 64(R8), Z18
	VPBROADCASTD 96(R8), Z19
	VPBROADCASTD 128(R8), Z20
	VPBROADCASTD 160(R8), Z21
	VMOVQ        192(R8), X10

f8s512Loop:
	VMOVUPS  0(SI), Z0
	VMOVUPS  64(SI), Z4
	VDIVPS   Z22, Z0, Z0
	VDIVPS   Z22, Z4, Z4
	VMAXPS   Z23, Z0, Z0
	VMAXPS   Z23, Z4, Z4
	VMINPS   Z24, Z0, Z0
	VMINPS   Z24, Z4, Z4
	F8ENC512(Z0, Z1, Z2, Z3, K1, K2)
	F8ENC512(Z4, Z5, Z6, Z7, K3, K4)
	VPMOVDB  Z1, X1
	VPMOVDB  Z5, X5
	VMOVDQU  X1, 0(DI)
	VMOVDQU  X5, 16(DI)
	ADDQ     $128, SI
	ADDQ     $32, DI
	SUBQ     $32, CX
	JNZ      f8s512Loop
	VZEROUPPER
	RET

// func groupsMinMaxAVX2(x *float32, groups, size int, lo, hi *float32) (nan bool)
// The range of each of groups runs of size floats at x (size a positive multiple of 32),
// reduced as minMaxAVX2 and then across the lanes, into lo[g] and hi[g]; nan reports a NaN
// anywhere (the ranges are then meaningless).
TEXT ·groupsMinMaxAVX2(SB), NOSPLIT, $0-41
	MOVQ x+0(FP), SI
	MOVQ groups+8(FP), DX
	MOVQ lo+24(FP), R8
	MOVQ hi+32(FP), R10
	VXORPS Y8, Y8, Y8

groupLoop:
	MOVQ size+16(FP), CX
	VBROADCASTSS posInf<>(SB), Y4
	VMOVAPS Y4, Y5
	VBROADCASTSS negInf<>(SB), Y6
	VMOVAPS Y6, Y7

groupInner:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMINPS Y0, Y4, Y4
	VMINPS Y1, Y5, Y5
	VMAXPS Y0, Y6, Y6
	VMAXPS Y1, Y7, Y7
	VMINPS Y2, Y4, Y4
	VMINPS Y3, Y5, Y5
	VMAXPS Y2, Y6, Y6
	VMAXPS Y3, Y7, Y7
	VCMPPS $3, Y1, Y0, Y9
	VCMPPS $3, Y3, Y2, Y10
	VORPS  Y9, Y8, Y8
	VORPS  Y10, Y8, Y8
	ADDQ   $128, SI
	SUBQ   $32, CX
	JNZ    groupInner

	VMINPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VEXTRACTF128 $1, Y4, X9
	VMINPS       X9, X4, X4
	VEXTRACTF128 $1, Y6, X10
	VMAXPS       X10, X6, X6
	VPERMILPS    $0x4e, X4, X9
	VMINPS       X9, X4, X4
	VPERMILPS    $0x4e, X6, X10
	VMAXPS       X10, X6, X6
	VPERMILPS    $0xb1, X4, X9
	VMINPS       X9, X4, X4
	VPERMILPS    $0xb1, X6, X10
	VMAXPS       X10, X6, X6
	VMOVSS       X4, (R8)
	VMOVSS       X6, (R10)
	ADDQ         $4, R8
	ADDQ         $4, R10
	DECQ         DX
	JNZ          groupLoop

	VPTEST  Y8, Y8
	SETNE   nan+40(FP)
	VZEROUPPER
	RET

// func quantizeGroupsI8AVX2(dst *int8, src *float32, groups, size int, k *groupAffine) (bad bool)
// quantizeI8MulAVX2 over groups consecutive runs of size floats (a positive multiple of
// 32), run g with the constants k[g] (mul, lo, hi, zp): one call for a row of groups.
TEXT ·quantizeGroupsI8AVX2(SB), NOSPLIT, $0-41
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), DX
	MOVQ size+24(FP), R8
	MOVQ k+32(FP), AX
	VMOVDQU packOrder<>(SB), Y10
	VXORPS Y11, Y11, Y11

qgLoop:
	VBROADCASTSS 0(AX), Y15
	VBROADCASTSS 4(AX), Y14
	VBROADCASTSS 8(AX), Y13
	VBROADCASTSS 12(AX), Y12
	MOVQ R8, CX

qgInner:
	QUANT32(VMULPS, VPACKSSWB)
	SUBQ $32, CX
	JNZ  qgInner
	ADDQ $16, AX
	DECQ DX
	JNZ  qgLoop
	QUANT_EPILOGUE
