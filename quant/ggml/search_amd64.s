//go:build amd64 && !purego

#include "textflag.h"

// Candidate-parallel sums of the k-quant scale searches: each of the 8 lanes evaluates one
// candidate scale over the same n elements, in element order, with the same float32
// operations as the scalar loops of search.go (multiply, add, no fusion), so every lane's
// result is bit-identical to the scalar one.

DATA magic<>+0(SB)/4, $0x4b400000 // 12582912.0f = 1.5*2^23
GLOBL magic<>(SB), RODATA|NOPTR, $4
DATA mantMask<>+0(SB)/4, $0x007fffff
GLOBL mantMask<>(SB), RODATA|NOPTR, $4
DATA halfMant<>+0(SB)/4, $0x00400000
GLOBL halfMant<>(SB), RODATA|NOPTR, $4
DATA absMask<>+0(SB)/4, $0x7fffffff
GLOBL absMask<>(SB), RODATA|NOPTR, $4
DATA one<>+0(SB)/4, $0x3f800000 // 1.0
GLOBL one<>(SB), RODATA|NOPTR, $4

// NEAREST turns the float lanes of R into nearest_int's ints, clamped to [Y13, Y14], then
// back to float (exact): R = float(clamp(nearest_int(R))).
#define NEAREST(R) \
	VADDPS Y12, R, R; \
	VPAND Y11, R, R; \
	VPSUBD Y10, R, R; \
	VPMINSD Y14, R, R; \
	VPMAXSD Y13, R, R; \
	VCVTDQ2PS R, R

// func qxSumsAVX2(x, w, wx *float32, n int, iscale *[8]float32, out *[2][8]float32, nmax int32)
// For each lane's iscale: l_i = clamp(nearest_int(iscale*x_i), -nmax, nmax-1) and the sums
// sum((w*x)*l), sum((w*l)*l) of make_qx_quants.
TEXT ·qxSumsAVX2(SB), NOSPLIT, $0-52
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ wx+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ iscale+32(FP), AX
	VMOVUPS (AX), Y15
	MOVL nmax+48(FP), BX
	DECL BX
	MOVL BX, X14
	VPBROADCASTD X14, Y14
	MOVL nmax+48(FP), BX
	NEGL BX
	MOVL BX, X13
	VPBROADCASTD X13, Y13
	VBROADCASTSS magic<>(SB), Y12
	VPBROADCASTD mantMask<>(SB), Y11
	VPBROADCASTD halfMant<>(SB), Y10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1

qxsums:
	VBROADCASTSS (SI), Y3
	VMULPS Y3, Y15, Y3
	NEAREST(Y3)
	VBROADCASTSS (DX), Y4
	VMULPS Y3, Y4, Y4
	VADDPS Y4, Y0, Y0
	VBROADCASTSS (DI), Y5
	VMULPS Y3, Y5, Y5
	VMULPS Y3, Y5, Y5
	VADDPS Y5, Y1, Y1
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $4, DX
	DECQ CX
	JNZ qxsums

	MOVQ out+40(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	VZEROUPPER
	RET

// Offsets in qkxLanes (search_amd64.go; TestQkxLanesLayout checks them).
#define LX 0
#define LW 1024
#define LL 2048
#define LMIN 3072
#define LMAX 3104
#define LSUMW 3136
#define LSUMX 3168
#define LBEST 3200
#define LSCALE 3232
#define LACTIVE 3264
#define LAUX 3296

// func qkxLanesAVX2(s *qkxLanes, n int, nmax int32, rmin, rdelta float32, nstep int, mad bool)
// The candidate loop of make_qkx2_quants/make_qkx3_quants for eight independent groups at
// once, lane j holding group j (x, w, L transposed to [element][lane]). Each lane runs the
// scalar algorithm's exact sequence: for is = 0..nstep, iscale = (rmin + rdelta*is +
// nmax)/(max - min), codes, sums, D, the fitted scale and min, their weighted error, and
// the candidate is kept (L, scale, min, bestErr) when D > 0 and the error is lower. It
// first computes the start of each search (qkxInit's part), and active = max > min.
TEXT ·qkxLanesAVX2(SB), NOSPLIT, $0-41
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), R8
	MOVL nmax+16(FP), R9
	MOVL R9, X14
	VPBROADCASTD X14, Y14
	VPXOR Y13, Y13, Y13
	VBROADCASTSS magic<>(SB), Y12
	VPBROADCASTD mantMask<>(SB), Y11
	VPBROADCASTD halfMant<>(SB), Y10
	MOVQ nstep+32(FP), R10
	MOVBLZX mad+40(FP), R11

	// The start of each search: min, max, sum(w), sum(w*x) in element order, min clamped
	// to <= 0, active = max > min, then the codes and error of iscale = nmax/(max-min).
	MOVQ DI, SI
	VMOVUPS LX(SI), Y0
	VMOVUPS Y0, Y1
	VMOVUPS LW(SI), Y2
	VMULPS Y0, Y2, Y3
	MOVQ R8, CX
	DECQ CX
	JZ qkxinitdone

qkxinit:
	ADDQ $32, SI
	VMOVUPS LX(SI), Y4
	VMINPS Y0, Y4, Y0
	VMAXPS Y1, Y4, Y1
	VMOVUPS LW(SI), Y5
	VADDPS Y5, Y2, Y2
	VMULPS Y4, Y5, Y5
	VADDPS Y5, Y3, Y3
	DECQ CX
	JNZ qkxinit

qkxinitdone:
	VCMPPS $0x1e, Y13, Y0, Y4
	VBLENDVPS Y4, Y13, Y0, Y0
	VCMPPS $0x1e, Y0, Y1, Y4
	VMOVUPS Y4, LACTIVE(DI)
	VMOVUPS Y0, LMIN(DI)
	VMOVUPS Y1, LMAX(DI)
	VMOVUPS Y2, LSUMW(DI)
	VMOVUPS Y3, LSUMX(DI)
	VMOVUPS Y0, Y9
	VCVTSI2SSL R9, X5, X5
	VBROADCASTSS X5, Y5
	VSUBPS Y0, Y1, Y6
	VDIVPS Y6, Y5, Y15
	VBROADCASTSS one<>(SB), Y7
	VDIVPS Y15, Y7, Y7
	VMOVUPS Y7, LSCALE(DI)
	VXORPS Y8, Y8, Y8
	VBROADCASTSS absMask<>(SB), Y6
	MOVQ DI, SI
	MOVQ R8, CX

qkxfirst:
	VMOVUPS LX(SI), Y0
	VSUBPS Y9, Y0, Y1
	VMULPS Y1, Y15, Y1
	NEAREST(Y1)
	VMOVUPS Y1, LL(SI)
	VMULPS Y1, Y7, Y2
	VADDPS Y9, Y2, Y2
	VSUBPS Y0, Y2, Y2
	VMULPS Y2, Y2, Y3
	VANDPS Y6, Y2, Y2
	TESTQ R11, R11
	JNZ qkxfirstmad
	VMOVUPS Y3, Y2

qkxfirstmad:
	VMULPS LW(SI), Y2, Y2
	VADDPS Y2, Y8, Y8
	ADDQ $32, SI
	DECQ CX
	JNZ qkxfirst
	VMOVUPS Y8, LBEST(DI)

	XORQ BX, BX

cand:
	// iscale = (rmin + rdelta*is + nmax) / (max - min)
	VCVTSI2SSQ BX, X0, X0
	VMULSS rdelta+24(FP), X0, X0
	VADDSS rmin+20(FP), X0, X0
	VCVTSI2SSL R9, X1, X1
	VADDSS X1, X0, X0
	VBROADCASTSS X0, Y15
	VMOVUPS LMAX(DI), Y0
	VSUBPS Y9, Y0, Y0
	VDIVPS Y0, Y15, Y15

	VXORPS Y8, Y8, Y8
	VXORPS Y7, Y7, Y7
	VXORPS Y6, Y6, Y6
	MOVQ DI, SI
	MOVQ R8, CX

sums:
	VMOVUPS LX(SI), Y0
	VSUBPS Y9, Y0, Y1
	VMULPS Y1, Y15, Y1
	NEAREST(Y1)
	VMOVUPS Y1, LAUX(SI)
	VMULPS LW(SI), Y1, Y2
	VADDPS Y2, Y8, Y8
	VMULPS Y1, Y2, Y3
	VADDPS Y3, Y7, Y7
	VMULPS Y0, Y2, Y3
	VADDPS Y3, Y6, Y6
	ADDQ $32, SI
	DECQ CX
	JNZ sums

	// D = sumW*sumL2 - sumL*sumL; Y5 = D > 0 && active
	VMULPS LSUMW(DI), Y7, Y0
	VMULPS Y8, Y8, Y1
	VSUBPS Y1, Y0, Y0
	VCMPPS $0x1e, Y13, Y0, Y5
	VANDPS LACTIVE(DI), Y5, Y5
	// Y1 = thisScale = (sumW*sumXL - sumX*sumL)/D
	VMULPS LSUMW(DI), Y6, Y1
	VMULPS LSUMX(DI), Y8, Y2
	VSUBPS Y2, Y1, Y1
	VDIVPS Y0, Y1, Y1
	// Y2 = thisMin = (sumL2*sumX - sumL*sumXL)/D
	VMULPS LSUMX(DI), Y7, Y2
	VMULPS Y6, Y8, Y3
	VSUBPS Y3, Y2, Y2
	VDIVPS Y0, Y2, Y2
	// where thisMin > 0: thisMin = 0, thisScale = sumXL/sumL2
	VCMPPS $0x1e, Y13, Y2, Y3
	VDIVPS Y7, Y6, Y4
	VBLENDVPS Y3, Y13, Y2, Y2
	VBLENDVPS Y3, Y4, Y1, Y1

	VXORPS Y8, Y8, Y8
	MOVQ DI, SI
	MOVQ R8, CX
	VBROADCASTSS absMask<>(SB), Y6
	TESTQ R11, R11
	JNZ errmad

errsq:
	VMULPS LAUX(SI), Y1, Y3
	VADDPS Y2, Y3, Y3
	VSUBPS LX(SI), Y3, Y3
	VMULPS Y3, Y3, Y3
	VMULPS LW(SI), Y3, Y3
	VADDPS Y3, Y8, Y8
	ADDQ $32, SI
	DECQ CX
	JNZ errsq
	JMP keep

errmad:
	VMULPS LAUX(SI), Y1, Y3
	VADDPS Y2, Y3, Y3
	VSUBPS LX(SI), Y3, Y3
	VANDPS Y6, Y3, Y3
	VMULPS LW(SI), Y3, Y3
	VADDPS Y3, Y8, Y8
	ADDQ $32, SI
	DECQ CX
	JNZ errmad

keep:
	// Y3 = valid && err < bestErr
	VMOVUPS LBEST(DI), Y4
	VCMPPS $0x11, Y4, Y8, Y3
	VANDPS Y5, Y3, Y3
	VMOVMSKPS Y3, AX
	TESTL AX, AX
	JZ nextcand
	VBLENDVPS Y3, Y8, Y4, Y4
	VMOVUPS Y4, LBEST(DI)
	VMOVUPS LSCALE(DI), Y4
	VBLENDVPS Y3, Y1, Y4, Y4
	VMOVUPS Y4, LSCALE(DI)
	VBLENDVPS Y3, Y2, Y9, Y9
	MOVQ DI, SI
	MOVQ R8, CX

keepl:
	VMOVUPS LL(SI), Y4
	VBLENDVPS Y3, LAUX(SI), Y4, Y4
	VMOVUPS Y4, LL(SI)
	ADDQ $32, SI
	DECQ CX
	JNZ keepl

nextcand:
	INCQ BX
	CMPQ BX, R10
	JLE cand

	VMOVUPS Y9, LMIN(DI)
	VZEROUPPER
	RET

// Offsets in q3Lanes (search_amd64.go; TestQ3LanesLayout checks them).
#define QX 0
#define QL 512
#define QSUMLX 1024
#define QSUML2 1056
#define QHI 1088
#define QLO 1120
#define QAMAX 1152
#define QNM 1184

// func q3LanesAVX2(s *q3Lanes, n int)
// make_q3_quants (do_rmse) for eight groups side by side, lane j holding group j: the codes
// of -nmax/max (max the first element of largest magnitude), then up to five passes over the elements in order, each moving a code to
// nearest_int(x*sl2/slx) when that improves sumlx²/suml2 (x² weights), exactly as the
// scalar loop. A lane that stops changing stays unchanged by further passes, so the passes
// stop when no lane changed.
TEXT ·q3LanesAVX2(SB), NOSPLIT, $0-16
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), R8
	VBROADCASTSS magic<>(SB), Y12
	VPBROADCASTD mantMask<>(SB), Y11
	VPBROADCASTD halfMant<>(SB), Y10
	VXORPS Y9, Y9, Y9

	// The start: amax and max (the first element of largest magnitude), the codes of
	// -nmax/max, and the x²-weighted sums.
	VBROADCASTSS absMask<>(SB), Y14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ DI, SI
	MOVQ R8, CX
q3max:
	VMOVUPS QX(SI), Y2
	VANDPS Y14, Y2, Y3
	VCMPPS $0x1e, Y0, Y3, Y4
	VBLENDVPS Y4, Y3, Y0, Y0
	VBLENDVPS Y4, Y2, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ q3max
	VMOVUPS Y0, QAMAX(DI)
	VMOVUPS QNM(DI), Y2
	VSUBPS Y2, Y9, Y2
	VDIVPS Y1, Y2, Y15
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ DI, SI
	MOVQ R8, CX
q3first:
	VMOVUPS QX(SI), Y3
	VMULPS Y3, Y15, Y6
	VADDPS Y12, Y6, Y6
	VPAND Y11, Y6, Y6
	VPSUBD Y10, Y6, Y6
	VPMINSD QHI(DI), Y6, Y6
	VPMAXSD QLO(DI), Y6, Y6
	VCVTDQ2PS Y6, Y6
	VMOVUPS Y6, QL(SI)
	VMULPS Y3, Y3, Y4
	VMULPS Y3, Y4, Y5
	VMULPS Y6, Y5, Y5
	VADDPS Y5, Y0, Y0
	VMULPS Y6, Y4, Y4
	VMULPS Y6, Y4, Y4
	VADDPS Y4, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ q3first
	MOVQ $5, R10

q3try:
	VXORPS Y2, Y2, Y2
	MOVQ DI, SI
	MOVQ R8, CX

q3elem:
	VMOVUPS QX(SI), Y3
	VMULPS Y3, Y3, Y4
	VMULPS Y3, Y4, Y5
	VMOVUPS QL(SI), Y6
	// slx = sumlx - (w*x)*l; sl2 = suml2 - (w*l)*l
	VMULPS Y6, Y5, Y15
	VSUBPS Y15, Y0, Y7
	VMULPS Y6, Y4, Y15
	VMULPS Y6, Y15, Y15
	VSUBPS Y15, Y1, Y8
	// new_l = clamp(nearest_int(x*sl2/slx))
	VMULPS Y8, Y3, Y15
	VDIVPS Y7, Y15, Y15
	VADDPS Y12, Y15, Y15
	VPAND Y11, Y15, Y15
	VPSUBD Y10, Y15, Y15
	VPMINSD QHI(DI), Y15, Y15
	VPMAXSD QLO(DI), Y15, Y15
	VCVTDQ2PS Y15, Y15
	// upd = slx > 0 && new_l != l && sl2' > 0 && slx'²·suml2 > sumlx²·sl2'
	VCMPPS $0x1e, Y9, Y7, Y3
	VCMPPS $4, Y6, Y15, Y13
	VANDPS Y13, Y3, Y3
	VMULPS Y15, Y5, Y5
	VADDPS Y5, Y7, Y7
	VMULPS Y15, Y4, Y4
	VMULPS Y15, Y4, Y4
	VADDPS Y4, Y8, Y8
	VCMPPS $0x1e, Y9, Y8, Y13
	VANDPS Y13, Y3, Y3
	VMULPS Y7, Y7, Y4
	VMULPS Y1, Y4, Y4
	VMULPS Y0, Y0, Y5
	VMULPS Y8, Y5, Y5
	VCMPPS $0x1e, Y5, Y4, Y13
	VANDPS Y13, Y3, Y3
	VBLENDVPS Y3, Y15, Y6, Y6
	VMOVUPS Y6, QL(SI)
	VBLENDVPS Y3, Y7, Y0, Y0
	VBLENDVPS Y3, Y8, Y1, Y1
	VORPS Y3, Y2, Y2
	ADDQ $32, SI
	DECQ CX
	JNZ q3elem

	VMOVMSKPS Y2, AX
	TESTL AX, AX
	JZ q3done
	DECQ R10
	JNZ q3try

q3done:
	VMOVUPS Y0, QSUMLX(DI)
	VMOVUPS Y1, QSUML2(DI)
	VZEROUPPER
	RET

// Offsets in qxLanes (search_amd64.go; TestQxLanesLayout checks them).
#define XX 0
#define XW 1024
#define XL 2048
#define XAUX 3072
#define XSCALE 4096
#define XAMAX 4128
#define XCAND 4160
#define XHI 4256
#define XLO 4288
#define XNM 4320

// QXPASS(DST) computes for every element the codes l = clamp(nearest_int(Y15*x), lo, hi),
// stores l + nmax at DST, and sums Y5 = sum((w*x)*l), Y6 = sum((w*l)*l).
#define QXPASS(DST, LABEL) \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	MOVQ DI, SI; \
	MOVQ R8, CX; \
LABEL: \
	VMOVUPS XX(SI), Y2; \
	VMULPS Y2, Y15, Y3; \
	VADDPS Y12, Y3, Y3; \
	VPAND Y11, Y3, Y3; \
	VPSUBD Y10, Y3, Y3; \
	VPMINSD XHI(DI), Y3, Y3; \
	VPMAXSD XLO(DI), Y3, Y3; \
	VCVTDQ2PS Y3, Y3; \
	VADDPS XNM(DI), Y3, Y4; \
	VMOVUPS Y4, DST(SI); \
	VMULPS XW(SI), Y2, Y4; \
	VMULPS Y3, Y4, Y4; \
	VADDPS Y4, Y5, Y5; \
	VMULPS XW(SI), Y3, Y4; \
	VMULPS Y3, Y4, Y4; \
	VADDPS Y4, Y6, Y6; \
	ADDQ $32, SI; \
	DECQ CX; \
	JNZ LABEL

// func qxLanesAVX2(s *qxLanes, n int)
// make_qx_quants (rmse_type 1) for eight groups side by side, lane j holding group j: the
// element of largest magnitude, the codes and fit for -nmax/max, then the 18 candidates
// -(nmax + 0.1*is)/max in order, keeping a candidate's codes, scale and fit when
// sumlx² > best·suml2. Writes L (codes + nmax), scale and amax (the caller handles the
// all-zero groups, amax < GROUP_MAX_EPS).
TEXT ·qxLanesAVX2(SB), NOSPLIT, $0-16
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), R8
	VBROADCASTSS magic<>(SB), Y12
	VPBROADCASTD mantMask<>(SB), Y11
	VPBROADCASTD halfMant<>(SB), Y10
	VXORPS Y9, Y9, Y9
	VBROADCASTSS absMask<>(SB), Y14

	// amax, max: the first element of largest magnitude
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ DI, SI
	MOVQ R8, CX
qxmax:
	VMOVUPS XX(SI), Y2
	VANDPS Y14, Y2, Y3
	VCMPPS $0x1e, Y0, Y3, Y4
	VBLENDVPS Y4, Y3, Y0, Y0
	VBLENDVPS Y4, Y2, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ qxmax
	VMOVUPS Y0, XAMAX(DI)

	// iscale = -nmax/max; codes into L; scale = suml2 != 0 ? sumlx/suml2 : 0; best
	VMOVUPS XNM(DI), Y2
	VSUBPS Y2, Y9, Y2
	VDIVPS Y1, Y2, Y15
	QXPASS(XL, qxfirst)
	VDIVPS Y6, Y5, Y7
	VCMPPS $4, Y9, Y6, Y8
	VANDPS Y8, Y7, Y7
	VMULPS Y5, Y7, Y8

	XORQ BX, BX
qxcand:
	VBROADCASTSS XCAND(DI)(BX*4), Y15
	VDIVPS Y1, Y15, Y15
	QXPASS(XAUX, qxsum)
	// win = suml2 > 0 && sumlx*sumlx > best*suml2
	VCMPPS $0x1e, Y9, Y6, Y2
	VMULPS Y5, Y5, Y3
	VMULPS Y6, Y8, Y4
	VCMPPS $0x1e, Y4, Y3, Y3
	VANDPS Y3, Y2, Y2
	VMOVMSKPS Y2, AX
	TESTL AX, AX
	JZ qxnext
	VDIVPS Y6, Y5, Y3
	VBLENDVPS Y2, Y3, Y7, Y7
	VMULPS Y5, Y3, Y4
	VBLENDVPS Y2, Y4, Y8, Y8
	MOVQ DI, SI
	MOVQ R8, CX
qxkeep:
	VMOVUPS XL(SI), Y4
	VBLENDVPS Y2, XAUX(SI), Y4, Y4
	VMOVUPS Y4, XL(SI)
	ADDQ $32, SI
	DECQ CX
	JNZ qxkeep
qxnext:
	INCQ BX
	CMPQ BX, $18
	JLT qxcand

	VMOVUPS Y7, XSCALE(DI)
	VZEROUPPER
	RET
