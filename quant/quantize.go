package quant

import (
	"errors"
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// errNonFiniteSeen tells the tensor-level functions that some block met a NaN or ±Inf;
// they then rescan to report the first one in C order.
var errNonFiniteSeen = errors.New("quant: non-finite value seen")

// CodeDType is the tensor dtype that holds the codes of q: I8 for qint8 and unpacked
// int4, U8 for quint8 and uint4, I16 for int16, I32 for qint32.
func CodeDType(q QType) (tensor.DType, error) {
	switch {
	case q.Bits <= 8 && q.Signed:
		return tensor.I8, nil
	case q.Bits <= 8:
		return tensor.U8, nil
	case q.Bits == 16 && q.Signed:
		return tensor.I16, nil
	case q.Bits == 32 && q.Signed:
		return tensor.I32, nil
	}
	return tensor.Invalid, fmt.Errorf("quant: no code dtype for %s", q.Name)
}

// floatInput returns the elements of a float tensor as float32 (no copy for F32).
func floatInput(t *tensor.Tensor) ([]float32, error) {
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("quant: cannot quantize a %v tensor: not a float tensor", t.DType)
	}
	return t.ToF32(), nil
}

// ChooseQParams computes the qparams of t for scheme s at granularity g in one pass over
// the data, as a MinMax (per tensor or per group) or PerChannelMinMax observer that saw t
// alone would. A NaN or ±Inf in t is a *NonFiniteError; an axis out of range, a
// non-positive group size or an invalid scheme are errors.
func ChooseQParams(t *tensor.Tensor, s Scheme, g Granularity) (*QParams, error) {
	p, _, _, err := chooseQParams(t, s, g, false)
	return p, err
}

// ChooseQParamsRange is ChooseQParams that also returns the range of t, from the blocks'
// ranges it finds anyway, for a caller that needs both (the streaming save: the range of
// the report's histogram) without a pass of its own. The range is MinMaxOf's, zeros
// included: the blocks' ranges combine with Go's min and max, and when one of them ends at
// a zero (whose sign could depend on the order of the combination) MinMaxOf gives it.
func ChooseQParamsRange(t *tensor.Tensor, s Scheme, g Granularity) (p *QParams, lo, hi float32, err error) {
	return chooseQParams(t, s, g, true)
}

// chooseQParams is ChooseQParams, and with wantRange ChooseQParamsRange.
func chooseQParams(t *tensor.Tensor, s Scheme, g Granularity, wantRange bool) (p *QParams, lo, hi float32, err error) {
	if err := s.Validate(); err != nil {
		return nil, 0, 0, err
	}
	b, err := resolve(t.Shape, g)
	if err != nil {
		return nil, 0, 0, err
	}
	x, err := floatInput(t)
	if err != nil {
		return nil, 0, 0, err
	}
	los, his, err := rangesOf(x, b)
	if err != nil {
		return nil, 0, 0, err
	}
	if wantRange && len(x) > 0 {
		r := NewRangeFold()
		for i := range los {
			r.Add(los[i], his[i])
		}
		lo, hi = r.Range(x)
	}
	scale, zp, err := CalculateQParams(los, his, s)
	if err != nil {
		return nil, 0, 0, err
	}
	return &QParams{Scheme: s, Scale: scale, ZeroPoint: zp, Axis: b.axis, GroupSize: b.groupSize}, lo, hi, nil
}

// rangesOf returns the min and max of every block of x (per tensor, channel or group).
func rangesOf(x []float32, b blocking) (lo, hi []float32, err error) {
	n := b.nparams()
	lo, hi = make([]float32, n), make([]float32, n)
	for i := range lo {
		lo[i], hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	switch {
	case b.groupSize > 0:
		err = parallel.Ranges(b.outer, 4*len(x), func(r0, r1 int) error {
			for r := r0; r < r1; r++ {
				row := x[r*b.inner : (r+1)*b.inner]
				for g := 0; g < b.groups; g++ {
					var finite bool
					lo[r*b.groups+g], hi[r*b.groups+g], finite = minMaxRow(row[g*b.groupSize : min((g+1)*b.groupSize, len(row))])
					if !finite {
						return errNonFiniteSeen
					}
				}
			}
			return nil
		})
	case b.channels == 1:
		lo[0], hi[0], err = MinMaxOf(x)
		return lo, hi, err
	default:
		err = parallel.Ranges(b.channels, 4*len(x), func(c0, c1 int) error {
			return channelRanges(lo, hi, x, b, c0, c1)
		})
	}
	if err != nil {
		return nil, nil, findNonFinite(x, 0)
	}
	return lo, hi, nil
}

// channelRanges folds channels c0..c1 of x into lo and hi.
func channelRanges(lo, hi, x []float32, b blocking, c0, c1 int) error {
	if b.inner < 32 {
		var nonFinite uint32
		for o := 0; o < b.outer; o++ {
			base := o * b.channels * b.inner
			for c := c0; c < c1; c++ {
				for _, v := range x[base+c*b.inner : base+(c+1)*b.inner] {
					nonFinite |= math.Float32bits(v - v)
					lo[c], hi[c] = min(lo[c], v), max(hi[c], v)
				}
			}
		}
		if nonFinite != 0 {
			return errNonFiniteSeen
		}
		return nil
	}
	for c := c0; c < c1; c++ {
		for o := 0; o < b.outer; o++ {
			start := (o*b.channels + c) * b.inner
			rlo, rhi, finite := minMaxRow(x[start : start+b.inner])
			if !finite {
				return errNonFiniteSeen
			}
			lo[c], hi[c] = min(lo[c], rlo), max(hi[c], rhi)
		}
	}
	return nil
}

// Quantize quantizes a float tensor with the given qparams (any granularity) and returns
// the codes in a tensor of CodeDType(p.Scheme.QType), with t's shape. Arithmetic follows
// p.Scheme.Numerics as documented on QuantizeTo.
func Quantize(t *tensor.Tensor, p *QParams) (*tensor.Tensor, error) {
	if err := p.Scheme.Validate(); err != nil {
		return nil, err
	}
	b, err := blockingOf(t.Shape, p)
	if err != nil {
		return nil, err
	}
	x, err := floatInput(t)
	if err != nil {
		return nil, err
	}
	dt, err := CodeDType(p.Scheme.QType)
	if err != nil {
		return nil, err
	}
	out := tensor.New(dt, t.Shape...)
	switch dt {
	case tensor.I8:
		err = quantizeBlocks(out.I8(), x, b, p)
	case tensor.U8:
		err = quantizeBlocks(out.U8(), x, b, p)
	case tensor.I16:
		err = quantizeBlocks(out.I16(), x, b, p)
	default:
		err = fmt.Errorf("quant: %s codes are wider than the float32 kernels support", p.Scheme.QType.Name)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func affines(p *QParams) ([]affine, error) {
	affs := make([]affine, len(p.Scale))
	for i := range affs {
		a, err := newAffine(p.Scale[i], p.ZeroPoint[i], p.Scheme)
		if err != nil {
			return nil, fmt.Errorf("qparams %d: %w", i, err)
		}
		affs[i] = a
	}
	return affs, nil
}

// quantizeBlocks quantizes x into dst block by block. Workers split: flat blocks of
// blockElems per tensor, channels per channel, rows per group.
func quantizeBlocks[T Code](dst []T, x []float32, b blocking, p *QParams) error {
	affs, err := affines(p)
	if err != nil {
		return err
	}
	if err := checkCodeType[T](p.Scheme.QType); err != nil {
		return err
	}
	switch {
	case b.groupSize > 0:
		err = parallel.Ranges(b.outer, 4*len(x), func(r0, r1 int) error {
			for r := r0; r < r1; r++ {
				row, out := x[r*b.inner:(r+1)*b.inner], dst[r*b.inner:(r+1)*b.inner]
				for g := 0; g < b.groups; g++ {
					lo, hi := g*b.groupSize, min((g+1)*b.groupSize, len(row))
					if !quantizeRow(out[lo:hi], row[lo:hi], &affs[r*b.groups+g]) {
						return errNonFiniteSeen
					}
				}
			}
			return nil
		})
	case b.channels == 1:
		err = parallel.Ranges(len(x)/blockElems+1, 4*len(x), func(b0, b1 int) error {
			lo, hi := min(b0*blockElems, len(x)), min(b1*blockElems, len(x))
			if !quantizeRow(dst[lo:hi], x[lo:hi], &affs[0]) {
				return errNonFiniteSeen
			}
			return nil
		})
	default:
		err = parallel.Ranges(b.channels, 4*len(x), func(c0, c1 int) error {
			for o := 0; o < b.outer; o++ {
				for c := c0; c < c1; c++ {
					start := (o*b.channels + c) * b.inner
					if !quantizeRow(dst[start:start+b.inner], x[start:start+b.inner], &affs[c]) {
						return errNonFiniteSeen
					}
				}
			}
			return nil
		})
	}
	if err != nil {
		return findNonFinite(x, 0)
	}
	return nil
}

// Dequantize maps a code tensor back to F32 with p: (q - zp) * scale in float32.
func Dequantize(codes *tensor.Tensor, p *QParams) (*tensor.Tensor, error) {
	b, err := blockingOf(codes.Shape, p)
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.F32, codes.Shape...)
	c := codes.Contiguous()
	switch c.DType {
	case tensor.I8:
		dequantizeBlocks(out.F32(), c.I8(), b, p)
	case tensor.U8:
		dequantizeBlocks(out.F32(), c.U8(), b, p)
	case tensor.I16:
		dequantizeBlocks(out.F32(), c.I16(), b, p)
	case tensor.I32:
		dequantizeBlocks(out.F32(), c.I32(), b, p)
	default:
		return nil, fmt.Errorf("quant: cannot dequantize a %v tensor", c.DType)
	}
	return out, nil
}

func dequantizeBlocks[T Code](dst []float32, q []T, b blocking, p *QParams) {
	n := len(q)
	switch {
	case b.groupSize > 0:
		_ = parallel.Ranges(b.outer, 4*n, func(r0, r1 int) error {
			for r := r0; r < r1; r++ {
				for g := 0; g < b.groups; g++ {
					lo, hi := r*b.inner+g*b.groupSize, r*b.inner+min((g+1)*b.groupSize, b.inner)
					dequantizeRow(dst[lo:hi], q[lo:hi], p.Scale[r*b.groups+g], p.ZeroPoint[r*b.groups+g])
				}
			}
			return nil
		})
	default:
		_ = parallel.Ranges(b.channels*b.outer, 4*n, func(u0, u1 int) error {
			for u := u0; u < u1; u++ { // u = o*channels + c
				c := u % b.channels
				dequantizeRow(dst[u*b.inner:(u+1)*b.inner], q[u*b.inner:(u+1)*b.inner], p.Scale[c], p.ZeroPoint[c])
			}
			return nil
		})
	}
}

// ChooseAndQuantize computes qparams as ChooseQParams does and quantizes t with them,
// giving exactly the codes of Quantize(t, ChooseQParams(t, s, g)). Per channel on a
// leading axis and per group it is one fused pass: each row or group is observed and
// quantized while it is in cache.
func ChooseAndQuantize(t *tensor.Tensor, s Scheme, g Granularity) (*tensor.Tensor, *QParams, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	b, err := resolve(t.Shape, g)
	if err != nil {
		return nil, nil, err
	}
	if !fusable(b) {
		p, err := ChooseQParams(t, s, g)
		if err != nil {
			return nil, nil, err
		}
		q, err := Quantize(t, p)
		return q, p, err
	}
	x, err := floatInput(t)
	if err != nil {
		return nil, nil, err
	}
	dt, err := CodeDType(s.QType)
	if err != nil {
		return nil, nil, err
	}
	out := tensor.New(dt, t.Shape...)
	p := &QParams{Scheme: s, Scale: make([]float32, b.nparams()), ZeroPoint: make([]int32, b.nparams()),
		Axis: b.axis, GroupSize: b.groupSize}
	switch dt {
	case tensor.I8:
		err = fusedQuantize(out.I8(), x, b, p)
	case tensor.U8:
		err = fusedQuantize(out.U8(), x, b, p)
	case tensor.I16:
		err = fusedQuantize(out.I16(), x, b, p)
	default:
		err = fmt.Errorf("quant: %s codes are wider than the float32 kernels support", s.QType.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	return out, p, nil
}

// fusable reports whether every block is one contiguous run: per group, or per channel
// with nothing before the axis.
func fusable(b blocking) bool {
	return b.groupSize > 0 || (b.axis >= 0 && b.outer == 1)
}

// fusedQuantize observes and quantizes each contiguous block (a group or a channel row)
// in turn, writing its qparams into p. Workers split the rows.
func fusedQuantize[T Code](dst []T, x []float32, b blocking, p *QParams) error {
	if err := checkCodeType[T](p.Scheme.QType); err != nil {
		return err
	}
	rows, cols, size, per := b.channels, b.inner, b.inner, 1
	if b.groupSize > 0 {
		rows, size, per = b.outer, b.groupSize, b.groups
	}
	err := parallel.Ranges(rows, 4*len(x), func(r0, r1 int) error {
		for r := r0; r < r1; r++ {
			row, out := x[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
			for g := 0; g < per; g++ {
				lo, hi := g*size, min((g+1)*size, cols)
				if err := observeQuantize(out[lo:hi], row[lo:hi], p, r*per+g); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if errors.Is(err, errNonFiniteSeen) {
		return findNonFinite(x, 0)
	}
	return err
}

// observeQuantize computes qparams i from block x and quantizes it into dst.
func observeQuantize[T Code](dst []T, x []float32, p *QParams, i int) error {
	lo, hi, finite := minMaxRow(x)
	if !finite {
		return errNonFiniteSeen
	}
	scale, zp := qparamsOne(lo, hi, p.Scheme)
	p.Scale[i], p.ZeroPoint[i] = scale, zp
	a, err := newAffine(scale, zp, p.Scheme)
	if err != nil {
		return err
	}
	quantizeRow(dst, x, &a)
	return nil
}
