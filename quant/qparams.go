package quant

import (
	"fmt"
	"math"
)

// Eps is torch.finfo(torch.float32).eps, the smallest scale torch's observers allow.
const Eps = float32(1.0 / (1 << 23))

// float32Tiny is numpy.finfo(numpy.float32).tiny (2^-126), ORT's threshold below which a
// scale becomes 1.
const float32Tiny = 1.0 / (1 << 126)

// QParams holds the scales and zero points of one tensor.
//   - Per tensor: one entry, Axis -1, GroupSize 0.
//   - Per channel: one entry per index of dimension Axis, GroupSize 0.
//   - Per group: GroupSize > 0 and Axis is the last dimension, along which the groups run.
//     Scale has rows*ceil(cols/GroupSize) entries in row-major order, where cols is the
//     last dimension and rows the product of the others.
type QParams struct {
	Scheme    Scheme
	Scale     []float32
	ZeroPoint []int32
	Axis      int
	GroupSize int
}

// Validate reports whether s describes a code range qscript can compute qparams for.
func (s Scheme) Validate() error {
	switch s.QType.Bits {
	case 4, 8, 16, 32:
	default:
		return fmt.Errorf("quant: unsupported quantized type %q (%d bits)", s.QType.Name, s.QType.Bits)
	}
	if s.Numerics != Torch && s.Numerics != ORT {
		return fmt.Errorf("quant: unknown numerics %d", s.Numerics)
	}
	qmin, qmax := s.Range()
	if qmin > 0 || qmax < 0 || qmin >= qmax {
		return fmt.Errorf("quant: code range %d..%d of %s must contain 0", qmin, qmax, s.QType.Name)
	}
	return nil
}

// CalculateQParams turns observed ranges (one per tensor, channel or group) into qparams,
// with torch's _calculate_qparams or ORT's compute_scale_zp depending on s.Numerics.
// A never-observed range (min = +Inf, max = -Inf) gives scale 1 and zero point 0.
// A NaN bound, or an infinite bound in an observed range, is an ErrNonFinite error.
func CalculateQParams(min, max []float32, s Scheme) (scale []float32, zp []int32, err error) {
	if len(min) != len(max) {
		return nil, nil, fmt.Errorf("quant: %d minimums but %d maximums", len(min), len(max))
	}
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	scale = make([]float32, len(min))
	zp = make([]int32, len(min))
	for i := range min {
		if err := checkRange(min[i], max[i], i); err != nil {
			return nil, nil, err
		}
		scale[i], zp[i] = qparamsOne(min[i], max[i], s)
	}
	return scale, zp, nil
}

// checkRange accepts a finite range with min <= max, and the never-observed (+Inf, -Inf).
func checkRange(lo, hi float32, i int) error {
	if isUnobserved(lo, hi) {
		return nil
	}
	if lo-lo != 0 || hi-hi != 0 {
		return fmt.Errorf("range %d is [%v, %v]: %w", i, lo, hi, ErrNonFinite)
	}
	if lo > hi {
		return fmt.Errorf("quant: range %d has min %v > max %v", i, lo, hi)
	}
	return nil
}

func isUnobserved(lo, hi float32) bool {
	return math.IsInf(float64(lo), 1) && math.IsInf(float64(hi), -1)
}

// qparamsOne computes one scale and zero point; the range is checked by the caller.
func qparamsOne(lo, hi float32, s Scheme) (float32, int32) {
	qmin, qmax := s.Range()
	if s.Numerics == ORT {
		return ortQParams(lo, hi, qmin, qmax, s.Symmetric)
	}
	return torchQParams(lo, hi, qmin, qmax, s)
}

// torchQParams is torch.ao.quantization's _ObserverBase._calculate_qparams (torch 1.13),
// all in float32:
//
//	min_neg, max_pos = min(lo, 0), max(hi, 0)
//	symmetric: scale = max(max(-min_neg, max_pos) / ((qmax-qmin)/2), eps); zp = 0, or 128 for quint8
//	affine:    scale = max((max_pos-min_neg) / (qmax-qmin), eps)
//	           zp = clamp(qmin - round_half_even(min_neg/scale), qmin, qmax)
func torchQParams(lo, hi float32, qmin, qmax int32, s Scheme) (float32, int32) {
	if isUnobserved(lo, hi) {
		return 1, 0
	}
	minNeg := min(lo, 0)
	maxPos := max(hi, 0)
	if s.Symmetric {
		absMax := max(-minNeg, maxPos)
		scale := max(absMax/(float32(qmax-qmin)/2), Eps)
		var zp int32
		if !s.QType.Signed {
			// torch uses 128 for quint8 even with reduce_range (codes 0..127): only a
			// custom quant range gives (qmin+qmax)//2. Here: the middle of the full type.
			zp = (s.QType.Min + s.QType.Max + 1) / 2
		}
		return scale, zp
	}
	scale := max((maxPos-minNeg)/float32(qmax-qmin), Eps)
	zp := qmin - int32(roundHalfEven32(minNeg/scale))
	return scale, clamp32(zp, qmin, qmax)
}

// ortQParams is onnxruntime.quantization.quant_utils.compute_scale_zp: the range width is
// a float32 subtraction widened to float64, the scale and zero point are float64 (numpy
// rounds half to even), the zero point is not clamped, and the scale is cast to float32.
func ortQParams(lo, hi float32, qmin, qmax int32, symmetric bool) (float32, int32) {
	if isUnobserved(lo, hi) {
		return 1, 0
	}
	lo = min(lo, 0)
	hi = max(hi, 0)
	if symmetric {
		absMax := max(-lo, hi)
		lo, hi = -absMax, absMax
	}
	scale := float64(hi-lo) / (float64(qmax) - float64(qmin))
	if scale < float32Tiny {
		return 1, 0
	}
	var zp float64
	if symmetric {
		zp = math.RoundToEven(float64(qmin+qmax) / 2)
	} else {
		zp = math.RoundToEven(float64(qmin) - float64(lo)/scale)
	}
	return float32(scale), int32(zp)
}

func roundHalfEven32(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

func clamp32(v, lo, hi int32) int32 {
	return min(max(v, lo), hi)
}
