package tensor

import (
	"fmt"
	"math"
)

// ToF32 returns the elements of t as float32 in C order. For an F32 contiguous tensor
// it returns the data itself (no copy); otherwise a new slice. Integers convert exactly
// where float32 can hold them; bool becomes 0 or 1.
func (t *Tensor) ToF32() []float32 {
	c := t.Contiguous()
	if c.DType == F32 {
		return c.F32()
	}
	out := make([]float32, c.Numel())
	switch c.DType {
	case F64:
		convert(out, c.F64())
	case F16:
		for i, v := range c.U16() {
			out[i] = F16ToF32(v)
		}
	case BF16:
		for i, v := range c.U16() {
			out[i] = BF16ToF32(v)
		}
	case F8E4M3:
		for i, v := range c.U8() {
			out[i] = e4m3.decode[v]
		}
	case F8E5M2:
		for i, v := range c.U8() {
			out[i] = e5m2.decode[v]
		}
	case I64:
		convert(out, c.I64())
	case I32:
		convert(out, c.I32())
	case I16:
		convert(out, c.I16())
	case I8:
		convert(out, c.I8())
	case U8, Bool:
		convert(out, c.U8())
	default:
		panic(fmt.Sprintf("tensor: ToF32 of %v", c.DType))
	}
	return out
}

// To converts t to dtype dt and returns a new contiguous tensor (t itself when the dtype
// already matches and t is contiguous). Float targets round to nearest even, once, from
// the source value, and fp8 saturates (see F32ToF8E4M3); integer targets round half to
// even and saturate to the type's range, NaN becoming 0; BOOL is true for any non-zero
// value, NaN included.
func (t *Tensor) To(dt DType) (*Tensor, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("tensor: invalid target dtype %v", dt)
	}
	if t.DType == dt {
		return t.Contiguous(), nil
	}
	if dt.IsFloat() && dt != F64 {
		// One rounding from the source, as torch's casts do: int64 through float64 would
		// round twice. (torch narrows double to half and bfloat16 through float as well.)
		return FromF32To(dt, t.Shape, t.ToF32()), nil
	}
	// F64 and integer targets: float64 holds every value of the narrower sources exactly.
	return fromF64(dt, t.Shape, t.ToF64()), nil
}

// FromF32To builds a tensor of dtype dt from float32 values.
func FromF32To(dt DType, shape []int, v []float32) *Tensor {
	out := New(dt, shape...)
	switch dt {
	case F32:
		copy(out.F32(), v)
	case F64:
		convert(out.F64(), v)
	case F16:
		d := out.U16()
		for i, x := range v {
			d[i] = F32ToF16(x)
		}
	case BF16:
		d := out.U16()
		for i, x := range v {
			d[i] = F32ToBF16(x)
		}
	case F8E4M3:
		d := out.U8()
		for i, x := range v {
			d[i] = e4m3.encode(x)
		}
	case F8E5M2:
		d := out.U8()
		for i, x := range v {
			d[i] = e5m2.encode(x)
		}
	default:
		w := make([]float64, len(v))
		convert(w, v)
		return fromF64(dt, shape, w)
	}
	return out
}

func fromF64(dt DType, shape []int, v []float64) *Tensor {
	out := New(dt, shape...)
	switch dt {
	case F64:
		copy(out.F64(), v)
	case F32:
		convert(out.F32(), v)
	case F16, BF16, F8E4M3, F8E5M2:
		// torch narrows double to half and bfloat16 through float as well.
		f := make([]float32, len(v))
		convert(f, v)
		return FromF32To(dt, shape, f)
	case I64:
		convertRound(out.I64(), v, math.MinInt64, math.Nextafter(math.MaxInt64, 0))
	case I32:
		convertRound(out.I32(), v, math.MinInt32, math.MaxInt32)
	case I16:
		convertRound(out.I16(), v, math.MinInt16, math.MaxInt16)
	case I8:
		convertRound(out.I8(), v, math.MinInt8, math.MaxInt8)
	case U8:
		convertRound(out.U8(), v, 0, math.MaxUint8)
	case Bool:
		d := out.U8()
		for i, x := range v {
			if x != 0 {
				d[i] = 1
			}
		}
	}
	return out
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~float32 | ~float64
}

// convert is for i, v := range src { dst[i] = D(v) }.
func convert[D, S number](dst []D, src []S) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// convertRound is convert to an integer type, rounding half to even and saturating to
// [lo, hi], NaN becoming 0.
func convertRound[D number](dst []D, src []float64, lo, hi float64) {
	for i, x := range src {
		dst[i] = D(satRound(x, lo, hi))
	}
}

func satRound(x, lo, hi float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	r := math.RoundToEven(x)
	if r < lo {
		return lo
	}
	if r > hi {
		return hi
	}
	return r
}

// ToF64 returns the elements of t as float64 in C order (always a new slice). Unlike
// ToF32 it keeps int32 and large int64 values exact up to 2^53.
func (t *Tensor) ToF64() []float64 {
	c := t.Contiguous()
	out := make([]float64, c.Numel())
	switch c.DType {
	case F64:
		copy(out, c.F64())
	case I64:
		convert(out, c.I64())
	case I32:
		convert(out, c.I32())
	default:
		convert(out, c.ToF32())
	}
	return out
}
