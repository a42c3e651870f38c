//go:build amd64 && !purego

#include "textflag.h"

// ZERO_ACC clears the 16 accumulators Z2..Z17 (two per row of the 8x32 tile).
#define ZERO_ACC \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17

// FMA_8x32 adds one k step to the accumulators: the 32 B values in Z0, Z1 times each of
// the 8 A values of column p of the packed A panel (SI), broadcast from memory by the FMA
// itself.
#define FMA_8x32 \
	VFMADD231PS.BCST 0(SI), Z0, Z2; \
	VFMADD231PS.BCST 0(SI), Z1, Z3; \
	VFMADD231PS.BCST 4(SI), Z0, Z4; \
	VFMADD231PS.BCST 4(SI), Z1, Z5; \
	VFMADD231PS.BCST 8(SI), Z0, Z6; \
	VFMADD231PS.BCST 8(SI), Z1, Z7; \
	VFMADD231PS.BCST 12(SI), Z0, Z8; \
	VFMADD231PS.BCST 12(SI), Z1, Z9; \
	VFMADD231PS.BCST 16(SI), Z0, Z10; \
	VFMADD231PS.BCST 16(SI), Z1, Z11; \
	VFMADD231PS.BCST 20(SI), Z0, Z12; \
	VFMADD231PS.BCST 20(SI), Z1, Z13; \
	VFMADD231PS.BCST 24(SI), Z0, Z14; \
	VFMADD231PS.BCST 24(SI), Z1, Z15; \
	VFMADD231PS.BCST 28(SI), Z0, Z16; \
	VFMADD231PS.BCST 28(SI), Z1, Z17

// STEP_8x32 is FMA_8x32 on row p of the packed B panel (DI); then it moves SI and DI to the
// next step.
#define STEP_8x32 \
	VMOVUPS (DI), Z0; \
	VMOVUPS 64(DI), Z1; \
	FMA_8x32; \
	ADDQ $32, SI; \
	ADDQ $128, DI

// ADD_STORE_8x32 adds the accumulators to the 8x32 tile of c at DX, rows R8 bytes apart,
// leaving DX at its last row.
#define ADD_STORE_8x32 \
	VADDPS (DX), Z2, Z2; \
	VMOVUPS Z2, (DX); \
	VADDPS 64(DX), Z3, Z3; \
	VMOVUPS Z3, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z4, Z4; \
	VMOVUPS Z4, (DX); \
	VADDPS 64(DX), Z5, Z5; \
	VMOVUPS Z5, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z6, Z6; \
	VMOVUPS Z6, (DX); \
	VADDPS 64(DX), Z7, Z7; \
	VMOVUPS Z7, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z8, Z8; \
	VMOVUPS Z8, (DX); \
	VADDPS 64(DX), Z9, Z9; \
	VMOVUPS Z9, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z10, Z10; \
	VMOVUPS Z10, (DX); \
	VADDPS 64(DX), Z11, Z11; \
	VMOVUPS Z11, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z12, Z12; \
	VMOVUPS Z12, (DX); \
	VADDPS 64(DX), Z13, Z13; \
	VMOVUPS Z13, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z14, Z14; \
	VMOVUPS Z14, (DX); \
	VADDPS 64(DX), Z15, Z15; \
	VMOVUPS Z15, 64(DX); \
	ADDQ R8, DX; \
	VADDPS (DX), Z16, Z16; \
	VMOVUPS Z16, (DX); \
	VADDPS 64(DX), Z17, Z17; \
	VMOVUPS Z17, 64(DX)

// INIT_STORE_8x32 sets the 8x32 tile of c at DX (rows R8 bytes apart) to the accumulators
// plus init[r] (R9) in row r, leaving DX at its last row.
#define INIT_STORE_8x32 \
	VADDPS.BCST 0(R9), Z2, Z2; \
	VMOVUPS Z2, (DX); \
	VADDPS.BCST 0(R9), Z3, Z3; \
	VMOVUPS Z3, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 4(R9), Z4, Z4; \
	VMOVUPS Z4, (DX); \
	VADDPS.BCST 4(R9), Z5, Z5; \
	VMOVUPS Z5, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 8(R9), Z6, Z6; \
	VMOVUPS Z6, (DX); \
	VADDPS.BCST 8(R9), Z7, Z7; \
	VMOVUPS Z7, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 12(R9), Z8, Z8; \
	VMOVUPS Z8, (DX); \
	VADDPS.BCST 12(R9), Z9, Z9; \
	VMOVUPS Z9, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 16(R9), Z10, Z10; \
	VMOVUPS Z10, (DX); \
	VADDPS.BCST 16(R9), Z11, Z11; \
	VMOVUPS Z11, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 20(R9), Z12, Z12; \
	VMOVUPS Z12, (DX); \
	VADDPS.BCST 20(R9), Z13, Z13; \
	VMOVUPS Z13, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 24(R9), Z14, Z14; \
	VMOVUPS Z14, (DX); \
	VADDPS.BCST 24(R9), Z15, Z15; \
	VMOVUPS Z15, 64(DX); \
	ADDQ R8, DX; \
	VADDPS.BCST 28(R9), Z16, Z16; \
	VMOVUPS Z16, (DX); \
	VADDPS.BCST 28(R9), Z17, Z17; \
	VMOVUPS Z17, 64(DX)

// func kernel8x32AVX512(kc int, a, b, c *float32, ldc int)
// c[r][0:32] += sum over p of a[p*8+r] * b[p*32 : p*32+32], r = 0..7. Accumulators are
// Z2..Z17 (two per row); each step loads 32 B values into Z0, Z1 and multiplies them by
// one A value per row, broadcast from memory by the FMA itself (EVEX embedded broadcast).
TEXT ·kernel8x32AVX512(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	ZERO_ACC
	TESTQ CX, CX
	JE    store8

loop8:
	STEP_8x32
	DECQ CX
	JNE  loop8

store8:
	ADD_STORE_8x32
	VZEROUPPER
	RET

// func kernel8x32AVX512Edge(kc int, a, b, c *float32, ldc, rows, cols int)
// kernel8x32AVX512 for a partial tile: only c[r][0:cols] for r < rows is read and written,
// through the opmasks K1 (columns 0..15) and K2 (columns 16..31); masked-off elements are
// never touched, so c may end right after the tile.
TEXT ·kernel8x32AVX512Edge(SB), NOSPLIT, $0-56
	MOVQ cols+48(FP), AX
	MOVQ $16, BX
	CMPQ AX, BX
	CMOVQLT AX, BX
	MOVQ BX, CX
	MOVQ $1, R10
	SHLQ CX, R10
	DECQ R10
	KMOVW R10, K1
	SUBQ $16, AX
	XORQ R11, R11
	CMPQ AX, R11
	CMOVQLT R11, AX
	MOVQ AX, CX
	MOVQ $1, R10
	SHLQ CX, R10
	DECQ R10
	KMOVW R10, K2
	MOVQ rows+40(FP), R9
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	ZERO_ACC
	TESTQ CX, CX
	JE    edgestore
	TESTQ AX, AX
	JNE   edgeloop

	// At most 16 columns (AX = cols-16 clipped at 0): the second vector's FMAs would only
	// feed columns K2 leaves unstored, so they are skipped; the first's are the same.
edgeloop16:
	VMOVUPS          (DI), Z0
	VFMADD231PS.BCST 0(SI), Z0, Z2
	VFMADD231PS.BCST 4(SI), Z0, Z4
	VFMADD231PS.BCST 8(SI), Z0, Z6
	VFMADD231PS.BCST 12(SI), Z0, Z8
	VFMADD231PS.BCST 16(SI), Z0, Z10
	VFMADD231PS.BCST 20(SI), Z0, Z12
	VFMADD231PS.BCST 24(SI), Z0, Z14
	VFMADD231PS.BCST 28(SI), Z0, Z16
	ADDQ             $32, SI
	ADDQ             $128, DI
	DECQ             CX
	JNE              edgeloop16
	JMP              edgestore

edgeloop:
	STEP_8x32
	DECQ CX
	JNE  edgeloop

edgestore:
	VADDPS  (DX), Z2, K1, Z2
	VMOVUPS Z2, K1, (DX)
	VADDPS  64(DX), Z3, K2, Z3
	VMOVUPS Z3, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z4, K1, Z4
	VMOVUPS Z4, K1, (DX)
	VADDPS  64(DX), Z5, K2, Z5
	VMOVUPS Z5, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z6, K1, Z6
	VMOVUPS Z6, K1, (DX)
	VADDPS  64(DX), Z7, K2, Z7
	VMOVUPS Z7, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z8, K1, Z8
	VMOVUPS Z8, K1, (DX)
	VADDPS  64(DX), Z9, K2, Z9
	VMOVUPS Z9, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z10, K1, Z10
	VMOVUPS Z10, K1, (DX)
	VADDPS  64(DX), Z11, K2, Z11
	VMOVUPS Z11, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z12, K1, Z12
	VMOVUPS Z12, K1, (DX)
	VADDPS  64(DX), Z13, K2, Z13
	VMOVUPS Z13, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z14, K1, Z14
	VMOVUPS Z14, K1, (DX)
	VADDPS  64(DX), Z15, K2, Z15
	VMOVUPS Z15, K2, 64(DX)
	DECQ    R9
	JE      edgedone
	ADDQ    R8, DX
	VADDPS  (DX), Z16, K1, Z16
	VMOVUPS Z16, K1, (DX)
	VADDPS  64(DX), Z17, K2, Z17
	VMOVUPS Z17, K2, 64(DX)

edgedone:
	VZEROUPPER
	RET

// func kernel8x32AVX512Init(kc int, a, b, c *float32, ldc int, init *float32)
// kernel8x32AVX512 that sets c[r][0:32] to init[r] plus the product instead of adding the
// product to c: the first depth block of a product whose rows start at init (a Conv's
// bias), which then needs no pass filling c first. init[r] + product is the addition the
// fill then kernel8x32AVX512 would make.
TEXT ·kernel8x32AVX512Init(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	MOVQ init+40(FP), R9
	SHLQ $2, R8
	ZERO_ACC
	TESTQ CX, CX
	JE    initstore

initloop:
	STEP_8x32
	DECQ CX
	JNE  initloop

initstore:
	INIT_STORE_8x32
	VZEROUPPER
	RET

// func kernel8x32AVX512Rows(kc int, a, b *float32, offs *int, c *float32, ldc int)
// kernel8x32AVX512 whose B is not packed: step p reads the 32 floats at b + 4·offs[p] bytes
// (B's row p, starting at the tile's column), so B's rows may be slices of one array at
// any offsets (a convolution's shifted input planes, RunRows).
TEXT ·kernel8x32AVX512Rows(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ offs+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	ZERO_ACC
	TESTQ CX, CX
	JE    rowsstore

rowsloop:
	MOVQ    (R10), R11
	VMOVUPS (BX)(R11*4), Z0
	VMOVUPS 64(BX)(R11*4), Z1
	FMA_8x32
	ADDQ $32, SI
	ADDQ $8, R10
	DECQ CX
	JNE  rowsloop

rowsstore:
	ADD_STORE_8x32
	VZEROUPPER
	RET

// func kernel8x32AVX512RowsInit(kc int, a, b *float32, offs *int, c *float32, ldc int, init *float32)
// kernel8x32AVX512Rows that sets c[r][0:32] to init[r] plus the product, as
// kernel8x32AVX512Init does for a packed B: the first depth block of a product reading B
// in place (Operands.BRowOffsets), which then needs no pass filling c first.
TEXT ·kernel8x32AVX512RowsInit(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ offs+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	MOVQ init+48(FP), R9
	SHLQ $2, R8
	ZERO_ACC
	TESTQ CX, CX
	JE    rowsinitstore

rowsinitloop:
	MOVQ    (R10), R11
	VMOVUPS (BX)(R11*4), Z0
	VMOVUPS 64(BX)(R11*4), Z1
	FMA_8x32
	ADDQ $32, SI
	ADDQ $8, R10
	DECQ CX
	JNE  rowsinitloop

rowsinitstore:
	INIT_STORE_8x32
	VZEROUPPER
	RET
