package quant

import (
	"fmt"
	"math"
)

// Eps is torch.finfo(torch.float32).eps, the smallest scale torch's observers allow.
const Eps = float32(1.0 / (1 << 23))

// QParams holds the scales and zero points of one tensor. Per tensor: one entry and
// Axis -1. Per channel: one entry per index of Axis. Per group: Scale has
// rows*groups entries in row-major order and GroupSize > 0.
type QParams struct {
	Scheme    Scheme
	Scale     []float32
	ZeroPoint []int32
	Axis      int
	GroupSize int
}

// CalculateQParams turns observed ranges (one per tensor, channel or group) into qparams,
// with torch's _calculate_qparams or ORT's compute_scale_zp depending on s.Numerics.
// A never-observed range (min = +Inf, max = -Inf) gives scale 1 and zero point 0.
func CalculateQParams(min, max []float32, s Scheme) (scale []float32, zp []int32, err error) {
	if len(min) != len(max) {
		return nil, nil, fmt.Errorf("quant: %d minimums but %d maximums", len(min), len(max))
	}
	qmin, qmax := s.Range()
	if qmin > 0 || qmax < 0 {
		return nil, nil, fmt.Errorf("quant: code range %d..%d must contain 0", qmin, qmax)
	}
	scale = make([]float32, len(min))
	zp = make([]int32, len(min))
	for i := range min {
		lo, hi := min[i], max[i]
		if math.IsNaN(float64(lo)) || math.IsNaN(float64(hi)) {
			return nil, nil, fmt.Errorf("quant: range %d is NaN", i)
		}
		if s.Numerics == ORT {
			scale[i], zp[i] = ortQParams(lo, hi, qmin, qmax, s.Symmetric)
		} else {
			scale[i], zp[i] = torchQParams(lo, hi, qmin, qmax, s)
		}
	}
	return scale, zp, nil
}

// torchQParams is torch.ao.quantization's _calculate_qparams, all in float32.
func torchQParams(lo, hi float32, qmin, qmax int32, s Scheme) (float32, int32) {
	if math.IsInf(float64(lo), 1) && math.IsInf(float64(hi), -1) {
		return 1, 0
	}
	minNeg := min(lo, 0)
	maxPos := max(hi, 0)
	if s.Symmetric {
		absMax := max(-minNeg, maxPos)
		scale := max(absMax/(float32(qmax-qmin)/2), Eps)
		var zp int32
		if !s.QType.Signed {
			// torch uses 128 for quint8 even with reduce_range (0..127).
			zp = (s.QType.Min + s.QType.Max + 1) / 2
		}
		return scale, zp
	}
	scale := max((maxPos-minNeg)/float32(qmax-qmin), Eps)
	zp := qmin - int32(roundHalfEven32(minNeg/scale))
	return scale, clamp32(zp, qmin, qmax)
}

// ortQParams is onnxruntime.quantization.quant_utils.compute_scale_zp.
func ortQParams(lo, hi float32, qmin, qmax int32, symmetric bool) (float32, int32) {
	lo = min(lo, 0)
	hi = max(hi, 0)
	if symmetric {
		absMax := max(float32(math.Abs(float64(lo))), float32(math.Abs(float64(hi))))
		lo, hi = -absMax, absMax
	}
	scale := float64(hi-lo) / (float64(qmax) - float64(qmin))
	if scale < float64(math.SmallestNonzeroFloat32*(1<<23)) { // float32 tiny = 2^-126
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
