package ggml

import (
	"encoding/binary"
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"
	"math/bits"
	"unsafe"

	"github.com/qscript-dev/qscript/quant"
)

// rowKernel quantizes one row x into y; qw is the row's importance or nil.
type rowKernel func(y []byte, x, qw []float32)

// kernels maps each supported type to its row quantizer, and cost to its work per input
// byte relative to Q8_0 (for the parallel threshold only).
var kernels = map[Type]struct {
	quantize   rowKernel
	dequantize func(y []float32, b []byte)
	cost       int
}{
	F32:  {quantizeF32, dequantizeF32, 1},
	F16:  {quantizeF16, dequantizeF16, 1},
	BF16: {quantizeBF16, dequantizeBF16, 1},
	Q8_0: {func(y []byte, x, _ []float32) { quantizeQ8_0(y, x) }, dequantizeQ8_0, 1},
	Q4_0: {quantizeQ4_0, dequantizeQ4_0, 2},
	Q4_1: {quantizeQ4_1, dequantizeQ4_1, 2},
	Q5_0: {quantizeQ5_0, dequantizeQ5_0, 2},
	Q5_1: {quantizeQ5_1, dequantizeQ5_1, 2},
	Q2_K: {quantizeQ2_K, dequantizeQ2_K, 32},
	Q3_K: {quantizeQ3_K, dequantizeQ3_K, 16},
	Q4_K: {quantizeQ4_K, dequantizeQ4_K, 32},
	Q5_K: {quantizeQ5_K, dequantizeQ5_K, 32},
	Q6_K: {quantizeQ6_K, dequantizeQ6_K, 16},
}

// checkShape validates the row geometry shared by QuantizeRows and DequantizeRows and
// returns the row size in bytes.
func checkShape(op string, t Type, nrows, ncols, nsrc, ndst int, srcFloats bool) (int, error) {
	if !t.Supported() {
		return 0, fmt.Errorf("ggml: %s: type %s is not supported (supported: %s)", op, t, supportedNames())
	}
	if nrows < 0 {
		return 0, fmt.Errorf("ggml: %s: negative row count %d", op, nrows)
	}
	rowSize, err := RowSize(t, ncols)
	if err != nil {
		return 0, fmt.Errorf("ggml: %s: %w", op, err)
	}
	hi1, elems := bits.Mul64(uint64(nrows), uint64(ncols))
	hi2, bytes := bits.Mul64(uint64(nrows), uint64(rowSize))
	if hi1 != 0 || hi2 != 0 || elems > math.MaxInt/4 || bytes > math.MaxInt {
		return 0, fmt.Errorf("ggml: %s: %d rows of %d columns is too large", op, nrows, ncols)
	}
	nf, nb := nsrc, ndst
	if !srcFloats {
		nf, nb = ndst, nsrc
	}
	if uint64(nf) != elems {
		return 0, fmt.Errorf("ggml: %s: %d float32 values for %d rows of %d columns, want %d", op, nf, nrows, ncols, elems)
	}
	if uint64(nb) != bytes {
		return 0, fmt.Errorf("ggml: %s: %d bytes of %s for %d rows of %d columns, want %d", op, nb, t, nrows, ncols, bytes)
	}
	return rowSize, nil
}

// QuantizeRows quantizes nrows rows of ncols float32 (row-major src, len nrows*ncols) into
// dst (len nrows*RowSize(t, ncols)), exactly as ggml_quantize_chunk does. imatrix (len
// ncols, or nil) is the per-column importance, used as ggml uses quant_weights: it selects
// the weighted quantizers of Q4_0..Q5_1 and the k-quants, and is ignored by F32, F16,
// BF16 and Q8_0. NaN and ±Inf in src or imatrix are refused with a *quant.NonFiniteError
// (its index is row*ncols+column; imatrix errors are wrapped with "imatrix"). Above a
// size threshold the rows are split over GOMAXPROCS goroutines; the bytes do not depend
// on the split.
func QuantizeRows(t Type, dst []byte, src []float32, nrows, ncols int, imatrix []float32) error {
	rowSize, err := checkShape("QuantizeRows", t, nrows, ncols, len(src), len(dst), true)
	if err != nil {
		return err
	}
	if imatrix != nil {
		if len(imatrix) != ncols {
			return fmt.Errorf("ggml: QuantizeRows: imatrix has %d values for rows of %d columns", len(imatrix), ncols)
		}
		if err := findNonFinite(imatrix, 0); err != nil {
			return fmt.Errorf("ggml: imatrix: %w", err)
		}
	}
	k := kernels[t]
	return parallel.Ranges(nrows, k.cost*4*len(src), func(r0, r1 int) error {
		for r := r0; r < r1; r++ {
			x := src[r*ncols : (r+1)*ncols]
			if err := findNonFinite(x, r*ncols); err != nil {
				return err
			}
			k.quantize(dst[r*rowSize:(r+1)*rowSize], x, imatrix)
		}
		return nil
	})
}

// DequantizeRows is the inverse: ggml's dequantize_row_* (to_float) for each of nrows
// rows of ncols elements, src of len nrows*RowSize(t, ncols) into dst of len
// nrows*ncols.
func DequantizeRows(t Type, dst []float32, src []byte, nrows, ncols int) error {
	rowSize, err := checkShape("DequantizeRows", t, nrows, ncols, len(src), len(dst), false)
	if err != nil {
		return err
	}
	k := kernels[t]
	return parallel.Ranges(nrows, 4*len(dst), func(r0, r1 int) error {
		k.dequantize(dst[r0*ncols:r1*ncols], src[r0*rowSize:r1*rowSize])
		return nil
	})
}

func supportedNames() string {
	s := ""
	for i, t := range supported {
		if i > 0 {
			s += ", "
		}
		s += t.String()
	}
	return s
}

// findNonFinite returns a *quant.NonFiniteError for the first NaN or ±Inf of x. It scans
// without branches (an all-ones exponent carries into the sign bit of exp+2^23) and looks
// for the index only in a chunk that has one.
func findNonFinite(x []float32, offset int) error {
	for lo := 0; lo < len(x); lo += 256 {
		chunk := x[lo:min(len(x), lo+256)]
		if haveAVX2 && len(chunk) == 256 {
			if !anyNonFiniteAVX2(&chunk[0], 256) {
				continue
			}
		} else if !anyNonFinite(chunk) {
			continue
		}
		for i, v := range chunk {
			if v-v != 0 {
				return &quant.NonFiniteError{Index: offset + lo + i, Value: v}
			}
		}
	}
	return nil
}

// anyNonFinite reports whether x holds a NaN or ±Inf, without branches.
func anyNonFinite(x []float32) bool {
	var acc uint32
	for _, v := range x {
		acc |= math.Float32bits(v)&0x7f800000 + 0x00800000
	}
	return acc&0x80000000 != 0
}

// littleEndian is true on hosts whose float32 and uint16 memory layout is GGUF's, where
// F32 rows are copied as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func quantizeF32(y []byte, x, _ []float32) {
	if littleEndian && len(x) > 0 {
		copy(y, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)))
		return
	}
	for i, v := range x {
		binary.LittleEndian.PutUint32(y[4*i:], math.Float32bits(v))
	}
}

func dequantizeF32(y []float32, b []byte) {
	if littleEndian && len(y) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&y[0])), 4*len(y)), b)
		return
	}
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// quantizeF16 is ggml_fp32_to_fp16_row. quant's vector cast rounds to nearest even like
// ggml's portable conversion; they differ only in NaN payloads, and NaN never gets here.
func quantizeF16(y []byte, x, _ []float32) {
	halfRow(y, x, quant.F32ToF16To)
}

// quantizeBF16 is ggml_fp32_to_bf16_row_ref (round to nearest even); quant's vector cast
// (AVX2 where available) computes the same bits.
func quantizeBF16(y []byte, x, _ []float32) {
	halfRow(y, x, quant.F32ToBF16To)
}

// halfRow converts x with cast into 16-bit values stored little-endian in y.
func halfRow(y []byte, x []float32, cast func([]uint16, []float32) error) {
	var buf [1024]uint16
	for len(x) > 0 {
		n := min(len(x), len(buf))
		if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(y)))%2 == 0 {
			_ = cast(unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(y))), n), x[:n])
		} else {
			_ = cast(buf[:n], x[:n])
			for i, h := range buf[:n] {
				putU16(y[2*i:], h)
			}
		}
		x, y = x[n:], y[2*n:]
	}
}

func dequantizeF16(y []float32, b []byte) {
	b = b[:2*len(y)]
	for i := range y {
		y[i] = fp16ToFP32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
}

func dequantizeBF16(y []float32, b []byte) {
	b = b[:2*len(y)]
	for i := range y {
		y[i] = math.Float32frombits(uint32(b[2*i])<<16 | uint32(b[2*i+1])<<24)
	}
}
