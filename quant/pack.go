package quant

import (
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// Int4 codes travel in two packed layouts:
//
//   - compressed-tensors ("pack-quantized"): each row of cols codes becomes ceil(cols/8)
//     int32 words; element 8j+k sits at bits 4k..4k+3 of word j, stored as q+8 (0..15).
//     A row whose length is not a multiple of 8 is padded with zero nibbles (code -8), as
//     compressed-tensors' pack_to_int32 pads after adding the offset.
//   - ONNX INT4/UINT4: the flat tensor, element 2i in the low nibble of byte i and element
//     2i+1 in the high nibble, two's complement for INT4; an odd count leaves the last high
//     nibble zero.

// PackInt4WordsTo packs rows of int4 codes (-8..7) into compressed-tensors words:
//
//	for r := 0; r < rows; r++ {
//		for k, q := range src[r*cols : (r+1)*cols] {
//			dst[r*wordsPerRow+k/8] |= int32(uint32(q+8) << (4 * (k % 8)))
//		}
//	}
//
// with rows = len(src)/cols and wordsPerRow = ceil(cols/8). A code outside -8..7 is an
// error.
func PackInt4WordsTo(dst []int32, src []int8, cols int) error {
	rows, wpr, err := wordLayout(len(src), cols)
	if err != nil {
		return err
	}
	if len(dst) != rows*wpr {
		return fmt.Errorf("quant: PackInt4WordsTo: %d words for %d rows of %d codes, want %d", len(dst), rows, cols, rows*wpr)
	}
	for r := 0; r < rows; r++ {
		if !packRowWords(dst[r*wpr:(r+1)*wpr], src[r*cols:(r+1)*cols]) {
			return fmt.Errorf("quant: PackInt4WordsTo: row %d has a code outside -8..7", r)
		}
	}
	return nil
}

func wordLayout(n, cols int) (rows, wordsPerRow int, err error) {
	if cols <= 0 || n%cols != 0 {
		return 0, 0, fmt.Errorf("quant: %d codes do not form rows of %d", n, cols)
	}
	return n / cols, (cols + 7) / 8, nil
}

// packRowWords packs one row and reports whether every code was in -8..7.
func packRowWords(dst []int32, src []int8) bool {
	done, ok := packInt4Prefix(dst, src)
	return packRowWordsGo(dst[done/8:], src[done:]) && ok
}

// packRowWordsGo is the reference loop of packRowWords.
func packRowWordsGo(dst []int32, src []int8) bool {
	var bad uint8
	full := len(src) / 8
	dst = dst[:(len(src)+7)/8]
	for j := 0; j < full; j++ {
		s := src[8*j : 8*j+8 : 8*j+8]
		u0, u1, u2, u3 := uint8(s[0]+8), uint8(s[1]+8), uint8(s[2]+8), uint8(s[3]+8)
		u4, u5, u6, u7 := uint8(s[4]+8), uint8(s[5]+8), uint8(s[6]+8), uint8(s[7]+8)
		bad |= u0 | u1 | u2 | u3 | u4 | u5 | u6 | u7
		dst[j] = int32(uint32(u0) | uint32(u1)<<4 | uint32(u2)<<8 | uint32(u3)<<12 |
			uint32(u4)<<16 | uint32(u5)<<20 | uint32(u6)<<24 | uint32(u7)<<28)
	}
	if rest := src[8*full:]; len(rest) > 0 {
		var w uint32
		for k, q := range rest {
			u := uint8(q + 8)
			bad |= u
			w |= uint32(u) << (4 * k)
		}
		dst[full] = int32(w)
	}
	return bad < 16
}

// UnpackInt4WordsTo reverses PackInt4WordsTo: dst holds rows of cols codes and
//
//	dst[r*cols+k] = int8((uint32(src[r*wordsPerRow+k/8]) >> (4 * (k % 8))) & 0xF) - 8
func UnpackInt4WordsTo(dst []int8, src []int32, cols int) error {
	rows, wpr, err := wordLayout(len(dst), cols)
	if err != nil {
		return err
	}
	if len(src) != rows*wpr {
		return fmt.Errorf("quant: UnpackInt4WordsTo: %d words for %d rows of %d codes, want %d", len(src), rows, cols, rows*wpr)
	}
	for r := 0; r < rows; r++ {
		words := src[r*wpr : (r+1)*wpr]
		row := dst[r*cols : (r+1)*cols]
		for k := range row {
			row[k] = int8((uint32(words[k/8])>>(4*(k%8)))&0xF) - 8
		}
	}
	return nil
}

// PackInt4Words packs an I8 tensor of int4 codes, shape [..., cols], into an I32 tensor
// [..., ceil(cols/8)] in the compressed-tensors layout.
func PackInt4Words(codes *tensor.Tensor) (*tensor.Tensor, error) {
	if codes.DType != tensor.I8 || len(codes.Shape) == 0 {
		return nil, fmt.Errorf("quant: PackInt4Words wants an I8 tensor with at least one dimension, got %v %v", codes.DType, codes.Shape)
	}
	shape := append([]int{}, codes.Shape...)
	cols := shape[len(shape)-1]
	shape[len(shape)-1] = (cols + 7) / 8
	out := tensor.New(tensor.I32, shape...)
	if cols == 0 {
		return out, nil
	}
	return out, PackInt4WordsTo(out.I32(), codes.Contiguous().I8(), cols)
}

// UnpackInt4Words reverses PackInt4Words; shape is the unpacked shape (compressed-tensors'
// weight_shape).
func UnpackInt4Words(packed *tensor.Tensor, shape []int) (*tensor.Tensor, error) {
	if packed.DType != tensor.I32 || len(shape) == 0 {
		return nil, fmt.Errorf("quant: UnpackInt4Words wants an I32 tensor and a shape, got %v and %v", packed.DType, shape)
	}
	if _, err := tensor.Numel(shape); err != nil {
		return nil, err
	}
	out := tensor.New(tensor.I8, shape...)
	cols := shape[len(shape)-1]
	if cols == 0 || out.Numel() == 0 {
		return out, nil
	}
	return out, UnpackInt4WordsTo(out.I8(), packed.Contiguous().I32(), cols)
}
