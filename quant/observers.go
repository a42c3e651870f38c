package quant

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// The min/max observers below reproduce torch 1.13's MinMaxObserver,
// MovingAverageMinMaxObserver and PerChannelMinMaxObserver: the same running state in
// float32, the same update arithmetic, and qparams through CalculateQParams. They keep
// only their ranges, so memory does not grow with the batches seen. An empty batch is
// ignored, as torch ignores it. A batch holding NaN or ±Inf is refused with a
// *NonFiniteError and leaves the state unchanged (torch would carry the NaN into the
// range and produce a NaN scale).

var (
	_ Observer = (*MinMax)(nil)
	_ Observer = (*MovingAverageMinMax)(nil)
	_ Observer = (*PerChannelMinMax)(nil)
)

// observeInput returns the elements of a float tensor as float32, as torch's
// x.to(min_val.dtype) does.
func observeInput(t *tensor.Tensor) ([]float32, error) {
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("quant: cannot observe a %v tensor: not a float tensor", t.DType)
	}
	return t.ToF32(), nil
}

func unobserved() (float32, float32) { return float32(math.Inf(1)), float32(math.Inf(-1)) }

// MinMax keeps the running minimum and maximum of everything observed
// (torch.ao.quantization.MinMaxObserver).
type MinMax struct {
	scheme   Scheme
	min, max float32
}

// NewMinMax returns a MinMax observer for scheme s (per tensor).
func NewMinMax(s Scheme) *MinMax {
	o := &MinMax{scheme: s}
	o.min, o.max = unobserved()
	return o
}

// Observe folds the batch's min and max into the running range:
// min = min(min, aminmax(x).min), max likewise.
func (o *MinMax) Observe(t *tensor.Tensor) error {
	x, err := observeInput(t)
	if err != nil || len(x) == 0 {
		return err
	}
	lo, hi, err := MinMaxOf(x)
	if err != nil {
		return err
	}
	o.min, o.max = min(o.min, lo), max(o.max, hi)
	return nil
}

// Range returns the running range.
func (o *MinMax) Range() (min, max []float32) { return []float32{o.min}, []float32{o.max} }

// QParams computes per-tensor qparams from the running range.
func (o *MinMax) QParams() (*QParams, error) { return perTensorQParams(o.min, o.max, o.scheme) }

func perTensorQParams(lo, hi float32, s Scheme) (*QParams, error) {
	scale, zp, err := CalculateQParams([]float32{lo}, []float32{hi}, s)
	if err != nil {
		return nil, err
	}
	return &QParams{Scheme: s, Scale: scale, ZeroPoint: zp, Axis: -1}, nil
}

// DefaultAveragingConstant is torch's MovingAverageMinMaxObserver averaging_constant.
const DefaultAveragingConstant = 0.01

// MovingAverageMinMax keeps an exponential moving average of the batch ranges
// (torch.ao.quantization.MovingAverageMinMaxObserver). The first batch sets the range;
// after it, min += c*(batch_min - min) and max += c*(batch_max - max), each operation
// rounded to float32 as torch's float32 tensor arithmetic does.
type MovingAverageMinMax struct {
	scheme   Scheme
	c        float32
	min, max float32
}

// NewMovingAverageMinMax returns a moving-average observer with c = 0.01.
func NewMovingAverageMinMax(s Scheme) *MovingAverageMinMax {
	o, _ := NewMovingAverageMinMaxC(s, DefaultAveragingConstant)
	return o
}

// NewMovingAverageMinMaxC returns a moving-average observer with averaging constant c in
// (0, 1].
func NewMovingAverageMinMaxC(s Scheme, c float64) (*MovingAverageMinMax, error) {
	if !(c > 0 && c <= 1) {
		return nil, fmt.Errorf("quant: averaging constant %v must be in (0, 1]", c)
	}
	o := &MovingAverageMinMax{scheme: s, c: float32(c)}
	o.min, o.max = unobserved()
	return o, nil
}

// Observe updates the moving range with one batch.
func (o *MovingAverageMinMax) Observe(t *tensor.Tensor) error {
	x, err := observeInput(t)
	if err != nil || len(x) == 0 {
		return err
	}
	lo, hi, err := MinMaxOf(x)
	if err != nil {
		return err
	}
	if isUnobserved(o.min, o.max) {
		o.min, o.max = lo, hi
		return nil
	}
	o.min = o.min + float32(o.c*float32(lo-o.min))
	o.max = o.max + float32(o.c*float32(hi-o.max))
	return nil
}

// Range returns the moving range.
func (o *MovingAverageMinMax) Range() (min, max []float32) {
	return []float32{o.min}, []float32{o.max}
}

// QParams computes per-tensor qparams from the moving range.
func (o *MovingAverageMinMax) QParams() (*QParams, error) {
	return perTensorQParams(o.min, o.max, o.scheme)
}

// PerChannelMinMax keeps the running min and max of every index of one axis
// (torch.ao.quantization.PerChannelMinMaxObserver; torch's default ch_axis is 0). The
// first batch fixes the channel count; a later batch with another count is an error.
type PerChannelMinMax struct {
	scheme   Scheme
	axis     int // as given; may count from the end
	resolved int // axis resolved against the batches seen
	min, max []float32
}

// NewPerChannelMinMax returns a per-channel observer over axis (negative counts from the
// end, resolved against each batch).
func NewPerChannelMinMax(s Scheme, axis int) *PerChannelMinMax {
	return &PerChannelMinMax{scheme: s, axis: axis}
}

// Observe folds one batch in: per channel, min = min(min, batch channel min), likewise max.
func (o *PerChannelMinMax) Observe(t *tensor.Tensor) error {
	b, err := resolve(t.Shape, PerChannel(o.axis))
	if err != nil {
		return err
	}
	x, err := observeInput(t)
	if err != nil || len(x) == 0 {
		return err
	}
	if o.min != nil && len(o.min) != b.channels {
		return fmt.Errorf("quant: per-channel observer saw %d channels, now %d (axis %d of %v)",
			len(o.min), b.channels, o.axis, t.Shape)
	}
	lo, hi, err := rangesOf(x, b)
	if err != nil {
		return err
	}
	o.resolved = b.axis
	if o.min == nil {
		o.min, o.max = lo, hi
		return nil
	}
	for c := range lo {
		o.min[c], o.max[c] = min(o.min[c], lo[c]), max(o.max[c], hi[c])
	}
	return nil
}

// Range returns one range per channel; before any batch it is the single range (+Inf, -Inf).
func (o *PerChannelMinMax) Range() (min, max []float32) {
	if o.min == nil {
		lo, hi := unobserved()
		return []float32{lo}, []float32{hi}
	}
	return append([]float32(nil), o.min...), append([]float32(nil), o.max...)
}

// QParams computes per-channel qparams. Before any batch it returns, like torch, a single
// scale 1 and zero point 0.
func (o *PerChannelMinMax) QParams() (*QParams, error) {
	lo, hi := o.Range()
	scale, zp, err := CalculateQParams(lo, hi, o.scheme)
	if err != nil {
		return nil, err
	}
	axis := o.resolved
	if o.min == nil {
		axis = -1
	}
	return &QParams{Scheme: o.scheme, Scale: scale, ZeroPoint: zp, Axis: axis}, nil
}
