//go:build amd64 && !purego

#include "textflag.h"

// Statistics kernels of StatsAcc.AddCodes and AddFloats (errsums.go): n floats at SI, a
// positive multiple of 8, with their dequantized values (codes at DX dequantized with
// scale and zp, or floats at DX). Y0-Y7 hold the float64 lanes of Σx², Σy², Σxy and
// Σ(x-y)² for the low and high four of each eight values, Y8 the lanes' max|x-y|; they are
// loaded from and stored back to the statsLanes at DI, so that a caller adds many runs
// before folding them once. The histogram bins go from the vector to R9 and AX two at a
// time and are counted with scalar increments at BX (storing them to the frame and
// loading them back one by one measured 1.2-1.5x slower: those eight loads compete with
// the increments' for the load ports). Frame: scale 32, zp 64, lo 96, inv 128.

DATA absMask64<>+0(SB)/8, $0x7fffffffffffffff
DATA absMask64<>+8(SB)/8, $0x7fffffffffffffff
DATA absMask64<>+16(SB)/8, $0x7fffffffffffffff
DATA absMask64<>+24(SB)/8, $0x7fffffffffffffff
GLOBL absMask64<>(SB), RODATA|NOPTR, $32

// SUMS8 adds the eight values x in Y10 and y in Y9 to the sums (clobbers Y12-Y15).
#define SUMS8 \
	VCVTPS2PD   X10, Y12; \
	VEXTRACTF128 $1, Y10, X13; \
	VCVTPS2PD   X13, Y13; \
	VCVTPS2PD   X9, Y14; \
	VEXTRACTF128 $1, Y9, X15; \
	VCVTPS2PD   X15, Y15; \
	VFMADD231PD Y12, Y12, Y0; \
	VFMADD231PD Y13, Y13, Y1; \
	VFMADD231PD Y14, Y14, Y2; \
	VFMADD231PD Y15, Y15, Y3; \
	VFMADD231PD Y12, Y14, Y4; \
	VFMADD231PD Y13, Y15, Y5; \
	VSUBPD      Y14, Y12, Y12; \
	VSUBPD      Y15, Y13, Y13; \
	VFMADD231PD Y12, Y12, Y6; \
	VFMADD231PD Y13, Y13, Y7; \
	VANDPD      absMask64<>(SB), Y12, Y12; \
	VANDPD      absMask64<>(SB), Y13, Y13; \
	VMAXPD      Y12, Y8, Y8; \
	VMAXPD      Y13, Y8, Y8

// BINS8 counts the eight values x in Y10 into the histogram at BX (clobbers Y11, R9, AX).
// The kernels skip it when counts is nil (BX zero): a caller that measures the error
// before it knows the histogram's range.
#define BINS8 \
	VSUBPS      96(SP), Y10, Y11; \
	VMULPS      128(SP), Y11, Y11; \
	VCVTTPS2DQ  Y11, Y11; \
	VMOVQ       X11, R9; \
	MOVL        R9, AX; \
	SHRQ        $32, R9; \
	INCQ        (BX)(AX*8); \
	INCQ        (BX)(R9*8); \
	VPEXTRQ     $1, X11, R9; \
	MOVL        R9, AX; \
	SHRQ        $32, R9; \
	INCQ        (BX)(AX*8); \
	INCQ        (BX)(R9*8); \
	VEXTRACTI128 $1, Y11, X11; \
	VMOVQ       X11, R9; \
	MOVL        R9, AX; \
	SHRQ        $32, R9; \
	INCQ        (BX)(AX*8); \
	INCQ        (BX)(R9*8); \
	VPEXTRQ     $1, X11, R9; \
	MOVL        R9, AX; \
	SHRQ        $32, R9; \
	INCQ        (BX)(AX*8); \
	INCQ        (BX)(R9*8)

// STATS_LOAD reads the lanes at DI; STATS_STORE writes them back.
#define STATS_LOAD \
	VMOVUPD 0(DI), Y0; \
	VMOVUPD 32(DI), Y1; \
	VMOVUPD 64(DI), Y2; \
	VMOVUPD 96(DI), Y3; \
	VMOVUPD 128(DI), Y4; \
	VMOVUPD 160(DI), Y5; \
	VMOVUPD 192(DI), Y6; \
	VMOVUPD 224(DI), Y7; \
	VMOVUPD 256(DI), Y8

#define STATS_STORE \
	VMOVUPD Y0, 0(DI); \
	VMOVUPD Y1, 32(DI); \
	VMOVUPD Y2, 64(DI); \
	VMOVUPD Y3, 96(DI); \
	VMOVUPD Y4, 128(DI); \
	VMOVUPD Y5, 160(DI); \
	VMOVUPD Y6, 192(DI); \
	VMOVUPD Y7, 224(DI); \
	VMOVUPD Y8, 256(DI); \
	VZEROUPPER

// func statsCodesAVX2(x *float32, codes *int8, n int, counts *int64, scale float32, zp int32, lo, inv float32, l *statsLanes)
TEXT ·statsCodesAVX2(SB), NOSPLIT, $160-56
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ counts+24(FP), BX
	MOVQ l+48(FP), DI
	VBROADCASTSS scale+32(FP), Y9
	VMOVUPS Y9, 32(SP)
	VBROADCASTSS zp+36(FP), Y9
	VMOVUPS Y9, 64(SP)
	VBROADCASTSS lo+40(FP), Y9
	VMOVUPS Y9, 96(SP)
	VBROADCASTSS inv+44(FP), Y9
	VMOVUPS Y9, 128(SP)
	SHRQ $3, CX
	STATS_LOAD

codesLoop:
	VPMOVSXBD   (DX), Y9
	VPSUBD      64(SP), Y9, Y9
	VCVTDQ2PS   Y9, Y9
	VMULPS      32(SP), Y9, Y9
	VMOVUPS     (SI), Y10
	SUMS8
	TESTQ BX, BX
	JZ    codesLoopNext
	BINS8

codesLoopNext:
	ADDQ $32, SI
	ADDQ $8, DX
	DECQ CX
	JNZ  codesLoop
	STATS_STORE
	RET

// func statsFloatsAVX2(x, y *float32, n int, counts *int64, lo, inv float32, l *statsLanes)
TEXT ·statsFloatsAVX2(SB), NOSPLIT, $160-48
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ counts+24(FP), BX
	MOVQ l+40(FP), DI
	VBROADCASTSS lo+32(FP), Y9
	VMOVUPS Y9, 96(SP)
	VBROADCASTSS inv+36(FP), Y9
	VMOVUPS Y9, 128(SP)
	SHRQ $3, CX
	STATS_LOAD

floatsLoop:
	VMOVUPS (DX), Y9
	VMOVUPS (SI), Y10
	SUMS8
	TESTQ BX, BX
	JZ    floatsLoopNext
	BINS8

floatsLoopNext:
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  floatsLoop
	STATS_STORE
	RET

// func binsAVX2(x *float32, n int, counts *int64, lo, inv float32)
// BINS8 alone: the histogram counts of n floats at SI (a positive multiple of 8).
TEXT ·binsAVX2(SB), NOSPLIT, $160-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ counts+16(FP), BX
	VBROADCASTSS lo+24(FP), Y9
	VMOVUPS Y9, 96(SP)
	VBROADCASTSS inv+28(FP), Y9
	VMOVUPS Y9, 128(SP)
	SHRQ $3, CX

binsLoop:
	VMOVUPS (SI), Y10
	BINS8
	ADDQ $32, SI
	DECQ CX
	JNZ  binsLoop
	VZEROUPPER
	RET

// func statsFP8AVX2(x *float32, codes *uint8, n int, counts *int64, scale float32, table *float32, dec *fp8Decode, lo, inv float32, l *statsLanes)
// statsFloatsAVX2 with y the fp8 codes at DX decoded and multiplied by scale in registers
// (DequantizeFP8To's float32 product). For the magnitude bits m = c&0x7f: a normal code's
// float32 bits are m shifted into the exponent and mantissa fields plus the exponent's
// rebias; a subnormal's value (m < 2^manBits) is m converted and multiplied by the fp8
// subnormal quantum, both exact (and no float32 subnormal operand, which costs a
// microcode assist per instruction on this machine's cores); then the sign. Lanes holding
// a NaN or Inf code (m > thr) take the table at R10 instead, by a gather only when there
// are any. dec at R8, eight lanes each: 0 0x7f, 32 sign bit, 64 shift counts, 96 thr,
// 128 rebias bits, 160 2^manBits-1, 192 the subnormal quantum.
TEXT ·statsFP8AVX2(SB), NOSPLIT, $160-72
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ counts+24(FP), BX
	MOVQ table+40(FP), R10
	MOVQ dec+48(FP), R8
	MOVQ l+64(FP), DI
	VBROADCASTSS scale+32(FP), Y9
	VMOVUPS Y9, 32(SP)
	VBROADCASTSS lo+56(FP), Y9
	VMOVUPS Y9, 96(SP)
	VBROADCASTSS inv+60(FP), Y9
	VMOVUPS Y9, 128(SP)
	SHRQ $3, CX
	STATS_LOAD

fp8Loop:
	VPMOVZXBD   (DX), Y11
	VPSLLD      $24, Y11, Y12
	VPAND       32(R8), Y12, Y12
	VPAND       0(R8), Y11, Y13
	VPCMPGTD    96(R8), Y13, Y14
	VPCMPGTD    160(R8), Y13, Y15
	VCVTDQ2PS   Y13, Y10
	VMULPS      192(R8), Y10, Y10
	VPSLLVD     64(R8), Y13, Y13
	VPADDD      128(R8), Y13, Y13
	VBLENDVPS   Y15, Y13, Y10, Y9
	VPOR        Y12, Y9, Y9
	VPTEST      Y14, Y14
	JZ          fp8Plain
	VGATHERDPS  Y14, (R10)(Y11*4), Y9

fp8Plain:
	VMULPS      32(SP), Y9, Y9
	VMOVUPS     (SI), Y10
	SUMS8
	TESTQ BX, BX
	JZ    fp8PlainNext
	BINS8

fp8PlainNext:
	ADDQ $32, SI
	ADDQ $8, DX
	DECQ CX
	JNZ  fp8Loop
	STATS_STORE
	RET

// func divClampAVX2(dst, src *float32, n int, s, lo, hi float32)
// dst = min(max(src/s, lo), hi), eight at a time; n a positive multiple of 8.
TEXT ·divClampAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y15
	VBROADCASTSS lo+28(FP), Y14
	VBROADCASTSS hi+32(FP), Y13
	SHRQ $3, CX

divLoop:
	VMOVUPS (SI), Y0
	VDIVPS  Y15, Y0, Y0
	VMAXPS  Y14, Y0, Y0
	VMINPS  Y13, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  divLoop
	VZEROUPPER
	RET

// func statsGroupsAVX2(x *float32, codes *int8, groups, size int, counts *int64, scales *float32, zps *int32, shift int32, lo, inv float32, l *statsLanes)
// statsCodesAVX2 over groups consecutive runs of size values (a positive multiple of 8),
// run g dequantized with scales[g] and zps[g]-shift: the lanes stay in registers from run
// to run, so the sums are those of one statsCodesAVX2 call per run.
TEXT ·statsGroupsAVX2(SB), NOSPLIT, $160-80
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ groups+16(FP), R8
	MOVQ size+24(FP), R12
	SHRQ $3, R12
	MOVQ counts+32(FP), BX
	MOVQ scales+40(FP), R10
	MOVQ zps+48(FP), R11
	MOVL shift+56(FP), R13
	VBROADCASTSS lo+60(FP), Y9
	VMOVUPS Y9, 96(SP)
	VBROADCASTSS inv+64(FP), Y9
	VMOVUPS Y9, 128(SP)
	MOVQ l+72(FP), DI
	STATS_LOAD

runLoop:
	VBROADCASTSS (R10), Y9
	VMOVUPS      Y9, 32(SP)
	MOVL         (R11), AX
	SUBL         R13, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9
	VMOVDQU      Y9, 64(SP)
	MOVQ         R12, CX

runInner:
	VPMOVSXBD   (DX), Y9
	VPSUBD      64(SP), Y9, Y9
	VCVTDQ2PS   Y9, Y9
	VMULPS      32(SP), Y9, Y9
	VMOVUPS     (SI), Y10
	SUMS8
	TESTQ BX, BX
	JZ    runInnerNext
	BINS8

runInnerNext:
	ADDQ $32, SI
	ADDQ $8, DX
	DECQ CX
	JNZ  runInner
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ R8
	JNZ  runLoop
	STATS_STORE
	RET
