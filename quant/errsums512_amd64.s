//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 forms of the statistics kernels of errsums_amd64.s, for calls without a
// histogram (counts nil: the streaming save's one pass). They keep the same float64
// lanes and add the same terms to each in the same order, so the sums are the AVX2
// kernels' bit for bit: Z0 holds Σx² of the eight values of every 8 (the AVX2 kernels'
// Y0 for the low four and Y1 for the high four, which statsLanes stores side by side), Z2
// Σy², Z4 Σxy, Z6 Σ(x-y)², Z8 max|x-y| per value position, folded to the AVX2 kernels'
// four lanes at the end (the high four into the low four: max is exact, in any order, for every |x-y| that
// is not NaN; the callers' x are finite and their y finite or ±Inf).
// One 512-bit instruction instead of two 256-bit ones and no extracts halve the
// instructions per 8 values (the AVX2 loop ran at about twice the latency of its
// accumulators' FMA chains). Z16, Z17 temporaries, Z22 the float64 abs mask; Y20 and Y21
// the scale and zero point of the code kernels.

DATA absMask512<>+0(SB)/8, $0x7fffffffffffffff
GLOBL absMask512<>(SB), RODATA|NOPTR, $8

// SUMS8Z adds the eight values x in Y10 and y in Y9 to the lanes (clobbers Z16, Z17).
#define SUMS8Z \
	VCVTPS2PD   Y10, Z16; \
	VCVTPS2PD   Y9, Z17; \
	VFMADD231PD Z16, Z16, Z0; \
	VFMADD231PD Z17, Z17, Z2; \
	VFMADD231PD Z16, Z17, Z4; \
	VSUBPD      Z17, Z16, Z16; \
	VFMADD231PD Z16, Z16, Z6; \
	VPANDQ      Z22, Z16, Z16; \
	VMAXPD      Z16, Z8, Z8

// LANES_LOAD reads the lanes at DI (the VEX load of Y8 clears Z8's upper half: the high
// four max lanes start at +0, below every |x-y|); LANES_STORE folds and writes them back.
#define LANES_LOAD \
	VBROADCASTSD absMask512<>(SB), Z22; \
	VMOVUPD 0(DI), Z0; \
	VMOVUPD 64(DI), Z2; \
	VMOVUPD 128(DI), Z4; \
	VMOVUPD 192(DI), Z6; \
	VMOVUPD 256(DI), Y8

#define LANES_STORE \
	VMOVUPD Z0, 0(DI); \
	VMOVUPD Z2, 64(DI); \
	VMOVUPD Z4, 128(DI); \
	VMOVUPD Z6, 192(DI); \
	VEXTRACTF64X4 $1, Z8, Y9; \
	VMAXPD  Y9, Y8, Y8; \
	VMOVUPD Y8, 256(DI); \
	VZEROUPPER

// DEQ8 dequantizes the eight codes at DX into Y9: float32(code - Y21) * Y20.
#define DEQ8 \
	VPMOVSXBD (DX), Y9; \
	VPSUBD    Y21, Y9, Y9; \
	VCVTDQ2PS Y9, Y9; \
	VMULPS    Y20, Y9, Y9

// func statsCodesAVX512(x *float32, codes *int8, n int, scale float32, zp int32, l *statsLanes)
TEXT ·statsCodesAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ l+32(FP), DI
	VBROADCASTSS scale+24(FP), Y20
	MOVL zp+28(FP), AX
	VPBROADCASTD AX, Y21
	SHRQ $3, CX
	LANES_LOAD

codes512Loop:
	DEQ8
	VMOVUPS (SI), Y10
	SUMS8Z
	ADDQ $32, SI
	ADDQ $8, DX
	DECQ CX
	JNZ  codes512Loop
	LANES_STORE
	RET

// func statsGroupsAVX512(x *float32, codes *int8, groups, size int, scales *float32, zps *int32, shift int32, l *statsLanes)
// statsCodesAVX512 over groups consecutive runs of size values (a positive multiple of
// 8), run g dequantized with scales[g] and zps[g]-shift.
TEXT ·statsGroupsAVX512(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ groups+16(FP), R8
	MOVQ size+24(FP), R12
	SHRQ $3, R12
	MOVQ scales+32(FP), R10
	MOVQ zps+40(FP), R11
	MOVL shift+48(FP), R13
	MOVQ l+56(FP), DI
	LANES_LOAD

groups512Run:
	VBROADCASTSS (R10), Y20
	MOVL         (R11), AX
	SUBL         R13, AX
	VPBROADCASTD AX, Y21
	MOVQ         R12, CX

groups512Inner:
	DEQ8
	VMOVUPS (SI), Y10
	SUMS8Z
	ADDQ $32, SI
	ADDQ $8, DX
	DECQ CX
	JNZ  groups512Inner
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ R8
	JNZ  groups512Run
	LANES_STORE
	RET

// func statsFloatsAVX512(x, y *float32, n int, l *statsLanes)
TEXT ·statsFloatsAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ l+24(FP), DI
	SHRQ $3, CX
	LANES_LOAD

floats512Loop:
	VMOVUPS (DX), Y9
	VMOVUPS (SI), Y10
	SUMS8Z
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  floats512Loop
	LANES_STORE
	RET

// func statsFP8AVX512(x *float32, codes *uint8, n int, scale float32, table *float32, dec *fp8Decode, l *statsLanes)
// statsFloatsAVX512 with y the fp8 codes at DX decoded as statsFP8AVX2 decodes them and
// multiplied by scale (Z20), 16 codes at a time in 512-bit registers (the decode's
// compares into mask registers K1, K2, its blend a masked move; the constants of dec
// broadcast in Z23-Z29), then summed as two runs of 8, low half first; a last run of 8 with
// statsFP8AVX2's 256-bit code (registers Y9-Y15, dec at R8).
TEXT ·statsFP8AVX512(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Z20
	MOVQ table+32(FP), R10
	MOVQ dec+40(FP), R8
	MOVQ l+48(FP), DI
	VPBROADCASTD 0(R8), Z23
	VPBROADCASTD 32(R8), Z24
	VPBROADCASTD 64(R8), Z25
	VPBROADCASTD 96(R8), Z26
	VPBROADCASTD 128(R8), Z27
	VPBROADCASTD 160(R8), Z28
	VBROADCASTSS 192(R8), Z29
	SHRQ $3, CX
	MOVQ CX, BX
	ANDQ $1, BX
	SHRQ $1, CX
	LANES_LOAD
	TESTQ CX, CX
	JZ    fp8512Tail

fp8512Loop16:
	VPMOVZXBD   (DX), Z11
	VPSLLD      $24, Z11, Z12
	VPANDD      Z24, Z12, Z12
	VPANDD      Z23, Z11, Z13
	VPCMPGTD    Z26, Z13, K1
	VPCMPGTD    Z28, Z13, K2
	VCVTDQ2PS   Z13, Z10
	VMULPS      Z29, Z10, Z10
	VPSLLVD     Z25, Z13, Z13
	VPADDD      Z27, Z13, Z13
	VMOVAPS     Z13, K2, Z10
	VPORD       Z12, Z10, Z9
	KORTESTW    K1, K1
	JZ          fp8512Plain16
	VGATHERDPS  (R10)(Z11*4), K1, Z9

fp8512Plain16:
	VMULPS        Z20, Z9, Z9
	VMOVUPS       (SI), Z10
	SUMS8Z
	VEXTRACTF64X4 $1, Z10, Y10
	VEXTRACTF64X4 $1, Z9, Y9
	SUMS8Z
	ADDQ $64, SI
	ADDQ $16, DX
	DECQ CX
	JNZ  fp8512Loop16

fp8512Tail:
	TESTQ BX, BX
	JZ    fp8512Done
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
	JZ          fp8512Plain
	VGATHERDPS  Y14, (R10)(Y11*4), Y9

fp8512Plain:
	VMULPS      Y20, Y9, Y9
	VMOVUPS     (SI), Y10
	SUMS8Z

fp8512Done:
	LANES_STORE
	RET

// func quantStatsGroupsAVX512(dst *int8, x *float32, groups, size int, k *groupAffine, scales *float32, l *statsLanes) (bad bool)
// quantizeGroupsI8AVX2 and statsGroupsAVX512 in one loop, for a caller that measures the
// codes as it makes them: groups runs of size floats at SI (a positive multiple of 8),
// run g quantized with k[g] (mul, lo, hi, zp: clamp(x*mul, lo, hi), round half even, +
// zp, the operations of quantizeGroupsI8AVX2 in the same order, 16 values at a time; the
// codes stored as bytes at R9) and measured with y = r*scales[g], r the rounded value
// before the zero point: float32(code - (zp[g] - shift)) * scale of the separate kernels,
// the same float32 but for the sign of a zero r (-0 here), which changes no sum: ±0 terms
// leave a lane that is never -0 as it is, and x-(±0) differ only in the sign of a zero,
// squared or made absolute. The sums take the 16 values as two runs of 8, low half first,
// as statsGroupsAVX512 takes them. bad reports an x that is NaN or ±Inf (its code is then
// unspecified). Z1 gathers x-x; Z12-Z15 and Z20 are the run's constants; R12 the run's
// 16-value steps and BX its last 8 values, if any.
TEXT ·quantStatsGroupsAVX512(SB), NOSPLIT, $0-57
	MOVQ dst+0(FP), R9
	MOVQ x+8(FP), SI
	MOVQ groups+16(FP), R8
	MOVQ size+24(FP), R12
	MOVQ R12, BX
	ANDQ $8, BX
	SHRQ $4, R12
	MOVQ k+32(FP), R10
	MOVQ scales+40(FP), R11
	MOVQ l+48(FP), DI
	LANES_LOAD
	VPXORD Z1, Z1, Z1

qsRun:
	VBROADCASTSS 0(R10), Z12
	VBROADCASTSS 4(R10), Z13
	VBROADCASTSS 8(R10), Z14
	VBROADCASTSS 12(R10), Z15
	VBROADCASTSS (R11), Z20
	MOVQ         R12, CX
	TESTQ        CX, CX
	JZ           qsTail

qsInner:
	VMOVUPS       (SI), Z10
	VSUBPS        Z10, Z10, Z3
	VPORD         Z3, Z1, Z1
	VMULPS        Z12, Z10, Z11
	VMAXPS        Z13, Z11, Z11
	VMINPS        Z14, Z11, Z11
	VRNDSCALEPS   $8, Z11, Z11
	VMULPS        Z20, Z11, Z9
	VADDPS        Z15, Z11, Z11
	VCVTPS2DQ     Z11, Z11
	VPMOVDB       Z11, (R9)
	SUMS8Z
	VEXTRACTF64X4 $1, Z10, Y10
	VEXTRACTF64X4 $1, Z9, Y9
	SUMS8Z
	ADDQ $64, SI
	ADDQ $16, R9
	DECQ CX
	JNZ  qsInner

qsTail:
	TESTQ BX, BX
	JZ    qsNext
	VMOVUPS     (SI), Y10
	VSUBPS      Y10, Y10, Y3
	VPORD       Z3, Z1, Z1
	VMULPS      Y12, Y10, Y11
	VMAXPS      Y13, Y11, Y11
	VMINPS      Y14, Y11, Y11
	VROUNDPS    $8, Y11, Y11
	VMULPS      Y20, Y11, Y9
	VADDPS      Y15, Y11, Y11
	VCVTPS2DQ   Y11, Y11
	VPMOVDB     Y11, (R9)
	SUMS8Z
	ADDQ $32, SI
	ADDQ $8, R9

qsNext:
	ADDQ $16, R10
	ADDQ $4, R11
	DECQ R8
	JNZ  qsRun
	VEXTRACTI64X4 $1, Z1, Y3
	VPOR          Y3, Y1, Y1
	VPTEST        Y1, Y1
	SETNE         bad+56(FP)
	LANES_STORE
	RET

// RANGE_LOAD and RANGE_STORE keep the cast kernels' per-lane min and max of x (a
// castRange at R8) in Z24 and Z25; RANGE16 folds the 16 values of Z10 in. VMINPS and
// VMAXPS pass a NaN on or drop it by operand order and pick either zero: CastRangeTo
// checks for both afterwards.
#define RANGE_LOAD \
	VMOVUPS 0(R8), Z24; \
	VMOVUPS 64(R8), Z25

#define RANGE16 \
	VMINPS Z10, Z24, Z24; \
	VMAXPS Z10, Z25, Z25

#define RANGE_STORE \
	VMOVUPS Z24, 0(R8); \
	VMOVUPS Z25, 64(R8)

// func castStatsF16AVX512(dst *uint16, x *float32, n int, l *statsLanes, r *castRange)
// f32ToF16F16C and statsFloatsAVX512 in one loop (n a positive multiple of 8): x at SI
// rounded to half (VCVTPS2PH, nearest even) into dst at DX, widened back (VCVTPH2PS,
// exact: F16ToF32To's y) and summed with x, 16 at a time as two runs of 8, low half first,
// and a last run of 8. The 16-value body also folds x into r's lanes (not the last 8).
TEXT ·castStatsF16AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ l+24(FP), DI
	MOVQ r+32(FP), R8
	RANGE_LOAD
	SHRQ $3, CX
	MOVQ CX, BX
	ANDQ $1, BX
	SHRQ $1, CX
	LANES_LOAD
	TESTQ CX, CX
	JZ    f16sTail

f16sLoop:
	VMOVUPS       (SI), Z10
	RANGE16
	VCVTPS2PH     $0, Z10, Y11
	VMOVDQU       Y11, (DX)
	VCVTPH2PS     Y11, Z9
	SUMS8Z
	VEXTRACTF64X4 $1, Z10, Y10
	VEXTRACTF64X4 $1, Z9, Y9
	SUMS8Z
	ADDQ $64, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  f16sLoop

f16sTail:
	TESTQ BX, BX
	JZ    f16sDone
	VMOVUPS   (SI), Y10
	VCVTPS2PH $0, Y10, X11
	VMOVDQU   X11, (DX)
	VCVTPH2PS X11, Y9
	SUMS8Z

f16sDone:
	RANGE_STORE
	LANES_STORE
	RET

DATA bf16One512<>+0(SB)/4, $1
GLOBL bf16One512<>(SB), RODATA|NOPTR, $4
DATA bf16Bias512<>+0(SB)/4, $0x7fff
GLOBL bf16Bias512<>(SB), RODATA|NOPTR, $4
DATA bf16Quiet512<>+0(SB)/4, $0x40
GLOBL bf16Quiet512<>(SB), RODATA|NOPTR, $4

// func castStatsBF16AVX512(dst *uint16, x *float32, n int, l *statsLanes, r *castRange)
// castStatsF16AVX512 for bfloat16: each x's bits u rounded as f32ToBF16AVX2 rounds them
// (BF16ROUND: (u + 0x7fff + ((u>>16)&1)) >> 16, or (u>>16) | 0x40 for NaN, here a masked
// move under an unordered compare), narrowed to 16 bits into dst, and y = those bits << 16
// (bf16ToF32AVX2's widening), 16 at a time (Z18 one, Z19 the bias, Z21 the quiet bit), then
// a last run of 8 the same way in 256-bit registers.
TEXT ·castStatsBF16AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DX
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ l+24(FP), DI
	MOVQ r+32(FP), R8
	RANGE_LOAD
	VPBROADCASTD bf16One512<>(SB), Z18
	VPBROADCASTD bf16Bias512<>(SB), Z19
	VPBROADCASTD bf16Quiet512<>(SB), Z21
	SHRQ $3, CX
	MOVQ CX, BX
	ANDQ $1, BX
	SHRQ $1, CX
	LANES_LOAD
	TESTQ CX, CX
	JZ    bf16sTail

bf16sLoop:
	VMOVUPS       (SI), Z10
	RANGE16
	VPSRLD        $16, Z10, Z11
	VPANDD        Z18, Z11, Z12
	VPADDD        Z19, Z12, Z12
	VPADDD        Z10, Z12, Z12
	VPSRLD        $16, Z12, Z12
	VPORD         Z21, Z11, Z11
	VCMPPS        $3, Z10, Z10, K1
	VMOVDQA32     Z11, K1, Z12
	VPMOVDW       Z12, Y13
	VMOVDQU       Y13, (DX)
	VPSLLD        $16, Z12, Z9
	SUMS8Z
	VEXTRACTF64X4 $1, Z10, Y10
	VEXTRACTF64X4 $1, Z9, Y9
	SUMS8Z
	ADDQ $64, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  bf16sLoop

bf16sTail:
	TESTQ BX, BX
	JZ    bf16sDone
	VMOVUPS   (SI), Y10
	VPSRLD    $16, Y10, Y11
	VPANDD    Y18, Y11, Y12
	VPADDD    Y19, Y12, Y12
	VPADDD    Y10, Y12, Y12
	VPSRLD    $16, Y12, Y12
	VPORD     Y21, Y11, Y11
	VCMPPS    $3, Y10, Y10, K1
	VMOVDQA32 Y11, K1, Y12
	VPMOVDW   Y12, X13
	VMOVDQU   X13, (DX)
	VPSLLD    $16, Y12, Y9
	SUMS8Z

bf16sDone:
	RANGE_STORE
	LANES_STORE
	RET
