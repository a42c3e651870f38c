package quant

import (
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// compressed-tensors numerics ("numerics = compressed-tensors").
//
// compressed-tensors computes a weight's qparams and codes in the weight's own dtype:
// for a bf16 model every intermediate is a bf16 tensor, and torch's CPU kernels compute
// each bf16 operation in float32 and round the result to bf16 (ties to even). These
// kernels replay that sequence exactly, so codes, scales and zero points are the bits
// compressed-tensors produces, not merely close to them. The sequence, from
// compressed_tensors/quantization/utils/helpers.py (calculate_qparams, calculate_range)
// and quantization/lifecycle/forward.py (_quantize, _dequantize), with r() the rounding
// of a float32 result to the weight's dtype:
//
//	lo, hi   = min(min(group), 0), max(max(group), 0)          (exact)
//	symmetric:  scale = max(r(max(|lo|, |hi|) / (range/2)), eps), zp = 0
//	asymmetric: scale = max(r(r(hi - lo) / range), eps)
//	            zp    = roundEven(clamp(r(qmin - r(lo / scale)), qmin, qmax))
//	int code   = roundEven(clamp(r(r(x / scale) + zp), qmin, qmax))
//	fp8 code   = e4m3(clamp(r(x / scale), -448, 448))
//	dequant    = r(r(code - zp) * scale)
//
// with range = qmax - qmin (255 for int8, 15 for int4, 896 for fp8 e4m3), qmin, qmax =
// -2^(b-1), 2^(b-1)-1 (±448 for fp8) and eps = 2^-23 (float32's epsilon, which every
// dtype here holds exactly).

// CTArgs are the compressed-tensors QuantizationArgs of a weight.
type CTArgs struct {
	Bits      int  // 4 or 8
	Float     bool // fp8 e4m3 codes (Bits 8), symmetric only
	Symmetric bool
	GroupSize int // > 0: groups of that many columns; 0: one group per row (channel)
}

// ctEps is torch.finfo(torch.float32).eps, the smallest scale calculate_qparams keeps.
const ctEps = float32(1.0 / (1 << 23))

// Range returns qmin and qmax of the codes.
func (a CTArgs) Range() (qmin, qmax float32) {
	if a.Float {
		return -448, 448
	}
	h := float32(int32(1) << (a.Bits - 1))
	return -h, h - 1
}

// Validate checks the args.
func (a CTArgs) Validate() error {
	switch {
	case a.Float && (a.Bits != 8 || !a.Symmetric):
		return fmt.Errorf("quant: compressed-tensors float codes are symmetric fp8 (8 bits), not %d-bit symmetric=%v", a.Bits, a.Symmetric)
	case !a.Float && a.Bits != 4 && a.Bits != 8:
		return fmt.Errorf("quant: compressed-tensors integer codes of %d bits are not supported (4 or 8)", a.Bits)
	case a.GroupSize < 0:
		return fmt.Errorf("quant: group size %d", a.GroupSize)
	}
	return nil
}

// Groups returns the number of scale groups of a row of cols columns, or an error when
// cols does not split into whole groups (compressed-tensors refuses those too).
func (a CTArgs) Groups(cols int) (int, error) {
	if a.GroupSize == 0 {
		return 1, nil
	}
	if cols%a.GroupSize != 0 {
		return 0, fmt.Errorf("%d columns do not split into groups of %d", cols, a.GroupSize)
	}
	return cols / a.GroupSize, nil
}

// CTWeight is one quantized [rows, cols] weight.
type CTWeight struct {
	Scale     []float32 // [rows*groups], values of the weight's dtype
	ZeroPoint []int8    // [rows*groups]; all 0 when symmetric
	Codes     []int8    // [rows*cols] integer codes (integer args)
	FP8       []uint8   // [rows*cols] e4m3fn codes (float args)
}

// CTQuantize quantizes the [rows, cols] weight w, whose values are those of dt (F32, F16
// or BF16: a bf16 weight widened to float32), as compressed-tensors does in dt. out's
// slices are reused when large enough. A NaN or infinity is an error.
func CTQuantize(w []float32, rows, cols int, dt tensor.DType, a CTArgs, out *CTWeight) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if rows*cols != len(w) || rows <= 0 || cols <= 0 {
		return fmt.Errorf("quant: %d values are not a [%d, %d] weight", len(w), rows, cols)
	}
	groups, err := a.Groups(cols)
	if err != nil {
		return err
	}
	if _, _, err := MinMaxOf(w); err != nil {
		return err
	}
	out.Scale = growTo(out.Scale, rows*groups)
	out.ZeroPoint = growTo(out.ZeroPoint, rows*groups)
	if a.Float {
		out.FP8, out.Codes = growTo(out.FP8, len(w)), out.Codes[:0]
	} else {
		out.Codes, out.FP8 = growTo(out.Codes, len(w)), out.FP8[:0]
	}
	gs := cols / groups
	run := func(lo, hi int) error {
		switch dt {
		case tensor.BF16:
			ctRows[bf16Round](w, cols, gs, a, out, lo, hi)
		case tensor.F16:
			ctRows[f16Round](w, cols, gs, a, out, lo, hi)
		case tensor.F32:
			ctRows[f32Round](w, cols, gs, a, out, lo, hi)
		default:
			return fmt.Errorf("quant: compressed-tensors numerics need an f32, f16 or bf16 weight, not %v", dt)
		}
		return nil
	}
	return parallel.Ranges(rows, 4*len(w), run)
}

func growTo[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// rounder rounds a float32 result to a dtype. The three implementations have distinct
// underlying types so that each instantiation of ctRows is compiled on its own, with the
// rounding inlined.
type rounder interface{ r(float32) float32 }

type (
	bf16Round uint8
	f16Round  uint16
	f32Round  uint32
)

func (bf16Round) r(x float32) float32 {
	u := math.Float32bits(x)
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u &^ 0xffff)
}

func (f16Round) r(x float32) float32 { return tensor.F16ToF32(tensor.F32ToF16(x)) }
func (f32Round) r(x float32) float32 { return x }

// ctRows quantizes rows [lo, hi) group by group.
func ctRows[R rounder](w []float32, cols, gs int, a CTArgs, out *CTWeight, lo, hi int) {
	var rd R
	var tmp []float32 // fp8: the clamped quotients of one group
	qmin, qmax := a.Range()
	groups := cols / gs
	for row := lo; row < hi; row++ {
		for g := 0; g < groups; g++ {
			base := row*cols + g*gs
			x := w[base : base+gs]
			s, z := ctQParams[R](x, a, qmin, qmax)
			out.Scale[row*groups+g], out.ZeroPoint[row*groups+g] = s, int8(z)
			if a.Float {
				tmp = growTo(tmp, gs)
				for i, v := range x {
					tmp[i] = min(max(rd.r(v/s), qmin), qmax)
				}
				F32ToF8E4M3To(out.FP8[base:base+gs], tmp) // the values are finite: no error
				continue
			}
			dst := out.Codes[base : base+gs]
			for i, v := range x {
				q := rd.r(v / s)
				if z != 0 {
					q = rd.r(q + z)
				}
				dst[i] = int8(math.RoundToEven(float64(min(max(q, qmin), qmax))))
			}
		}
	}
}

// ctQParams is calculate_qparams for one group (see the sequence above). The zero point
// is returned as the float32 value of an integer.
func ctQParams[R rounder](x []float32, a CTArgs, qmin, qmax float32) (scale, zp float32) {
	var rd R
	lo, hi := float32(0), float32(0)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if a.Symmetric {
		m := max(-lo, hi)
		return max(rd.r(m/((qmax-qmin)/2)), ctEps), 0
	}
	scale = max(rd.r(rd.r(hi-lo)/(qmax-qmin)), ctEps)
	zp = rd.r(qmin - rd.r(lo/scale))
	zp = float32(math.RoundToEven(float64(min(max(zp, qmin), qmax))))
	return scale, zp
}

// CTDequantize writes compressed-tensors' dequantized weight: r(r(code - zp) * scale) in
// dt, for integer codes (or fp8 codes when w.FP8 is set).
func CTDequantize(dst []float32, w *CTWeight, rows, cols int, dt tensor.DType) error {
	if len(w.Scale) == 0 || len(w.Scale)%rows != 0 || len(dst) != rows*cols {
		return fmt.Errorf("quant: CTDequantize: %d scales, %d outputs for a [%d, %d] weight", len(w.Scale), len(dst), rows, cols)
	}
	groups := len(w.Scale) / rows
	if cols%groups != 0 {
		return fmt.Errorf("quant: CTDequantize: %d columns do not split into %d groups", cols, groups)
	}
	switch dt {
	case tensor.BF16:
		ctDequantize[bf16Round](dst, w, cols, groups)
	case tensor.F16:
		ctDequantize[f16Round](dst, w, cols, groups)
	case tensor.F32:
		ctDequantize[f32Round](dst, w, cols, groups)
	default:
		return fmt.Errorf("quant: CTDequantize: dtype %v", dt)
	}
	return nil
}

func ctDequantize[R rounder](dst []float32, w *CTWeight, cols, groups int) {
	var rd R
	gs := cols / groups
	for i := range dst {
		k := (i/cols)*groups + (i%cols)/gs
		var c float32
		if len(w.FP8) > 0 {
			c = tensor.F8E4M3ToF32(w.FP8[i])
		} else {
			c = rd.r(float32(w.Codes[i]) - float32(w.ZeroPoint[k]))
		}
		dst[i] = rd.r(c * w.Scale[k])
	}
}

// PackCTWords is compressed-tensors' pack_to_int32 along rows: each row of cols codes of
// bits (4 or 8) bits becomes ceil(cols*bits/32) int32 words; element k of a word's run
// sits at bits k*bits, stored as code + 2^(bits-1); a short last word is padded with zero
// bits. dst must hold rows*ceil(cols*bits/32) words.
func PackCTWords(dst []int32, src []int8, cols, bits int) error {
	if bits == 4 {
		return PackInt4WordsTo(dst, src, cols)
	}
	if bits != 8 {
		return fmt.Errorf("quant: PackCTWords: %d-bit codes (4 or 8)", bits)
	}
	rows, per := len(src)/max(cols, 1), (cols+3)/4
	if cols <= 0 || len(src)%cols != 0 || len(dst) != rows*per {
		return fmt.Errorf("quant: PackCTWords: %d words for %d codes in rows of %d", len(dst), len(src), cols)
	}
	for r := 0; r < rows; r++ {
		row, out := src[r*cols:(r+1)*cols], dst[r*per:(r+1)*per]
		clear(out)
		for k, q := range row {
			out[k/4] |= int32(uint32(uint8(q)^0x80) << (8 * (k % 4)))
		}
	}
	return nil
}

// CTWords is the number of int32 words PackCTWords makes of a row of cols codes.
func CTWords(cols, bits int) int { return (cols*bits + 31) / 32 }

// PackCTZeroPoints packs zero points [rows, groups] along the rows, as pack_to_int32 with
// packed_dim=0 does: [ceil(rows*bits/32), groups] words.
func PackCTZeroPoints(zp []int8, rows, groups, bits int) ([]int32, error) {
	if rows*groups != len(zp) {
		return nil, fmt.Errorf("quant: PackCTZeroPoints: %d zero points are not [%d, %d]", len(zp), rows, groups)
	}
	t := make([]int8, len(zp))
	for r := 0; r < rows; r++ {
		for g := 0; g < groups; g++ {
			t[g*rows+r] = zp[r*groups+g]
		}
	}
	words := CTWords(rows, bits)
	packedT := make([]int32, groups*words)
	if err := PackCTWords(packedT, t, rows, bits); err != nil {
		return nil, err
	}
	out := make([]int32, len(packedT))
	for g := 0; g < groups; g++ {
		for j := 0; j < words; j++ {
			out[j*groups+g] = packedT[g*words+j]
		}
	}
	return out, nil
}
