package quant

import (
	"fmt"
)

// DefaultGroupSize is the group size of per-group quantization when none is given
// (compressed-tensors' W4A16 and GPTQ use 128).
const DefaultGroupSize = 128

// Granularity says how many qparams a tensor gets.
//
//   - The zero value is per tensor: one scale and zero point.
//   - PerChannel: one per index of dimension Axis (negative counts from the end; 0 is the
//     output channel of Linear and Conv weights).
//   - GroupSize > 0: per group, one per GroupSize consecutive elements of the last
//     (input) dimension, in every row. When GroupSize does not divide the last dimension
//     the last group of each row is shorter, holding the remaining elements. Because
//     every range is widened to include 0, this gives exactly the qparams and codes of
//     padding the row with zeros to a whole group (the compressed-tensors convention),
//     and there are ceil(cols/GroupSize) groups per row.
//
// PerChannel and GroupSize > 0 together are an error.
type Granularity struct {
	PerChannel bool
	Axis       int
	GroupSize  int
}

// PerTensor is one scale for the whole tensor.
func PerTensor() Granularity { return Granularity{} }

// PerChannel is one scale per index of dimension axis.
func PerChannel(axis int) Granularity { return Granularity{PerChannel: true, Axis: axis} }

// PerGroup is one scale per size elements along the last dimension.
func PerGroup(size int) Granularity { return Granularity{GroupSize: size} }

func (g Granularity) String() string {
	switch {
	case g.GroupSize > 0:
		return fmt.Sprintf("per group of %d", g.GroupSize)
	case g.PerChannel:
		return fmt.Sprintf("per channel (axis %d)", g.Axis)
	}
	return "per tensor"
}

// blocking is a granularity resolved against a shape. The elements, in C order, are
// outer × channels × inner: per tensor (1, 1, n); per channel (product of the dims before
// the axis, the axis, product after); per group (rows, 1, cols) with groups per row.
type blocking struct {
	outer, channels, inner int
	axis                   int // QParams.Axis: -1 per tensor, the channel or last dim otherwise
	groupSize, groups      int // per group only
}

// nparams is the number of scales the blocking needs.
func (b blocking) nparams() int {
	if b.groupSize > 0 {
		return b.outer * b.groups
	}
	return b.channels
}

func resolve(shape []int, g Granularity) (blocking, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return blocking{}, fmt.Errorf("quant: negative dimension in shape %v", shape)
		}
		n *= d
	}
	switch {
	case g.PerChannel && g.GroupSize > 0:
		return blocking{}, fmt.Errorf("quant: per-channel and per-group granularity together (group size %d)", g.GroupSize)
	case g.GroupSize < 0:
		return blocking{}, fmt.Errorf("quant: group size %d must be positive", g.GroupSize)
	case g.GroupSize > 0:
		if len(shape) == 0 {
			return blocking{}, fmt.Errorf("quant: per-group quantization needs at least one dimension, got a scalar")
		}
		cols := shape[len(shape)-1]
		rows := 1
		for _, d := range shape[:len(shape)-1] {
			rows *= d
		}
		return blocking{outer: rows, channels: 1, inner: cols, axis: len(shape) - 1,
			groupSize: g.GroupSize, groups: (cols + g.GroupSize - 1) / g.GroupSize}, nil
	case g.PerChannel:
		axis := g.Axis
		if axis < 0 {
			axis += len(shape)
		}
		if axis < 0 || axis >= len(shape) {
			return blocking{}, fmt.Errorf("quant: channel axis %d out of range for shape %v", g.Axis, shape)
		}
		b := blocking{outer: 1, channels: shape[axis], inner: 1, axis: axis}
		for _, d := range shape[:axis] {
			b.outer *= d
		}
		for _, d := range shape[axis+1:] {
			b.inner *= d
		}
		return b, nil
	}
	return blocking{outer: 1, channels: 1, inner: n, axis: -1}, nil
}

// blockingOf rebuilds the blocking of p for a tensor of shape.
func blockingOf(shape []int, p *QParams) (blocking, error) {
	g := Granularity{GroupSize: p.GroupSize}
	if p.GroupSize == 0 && p.Axis >= 0 {
		g = PerChannel(p.Axis)
	}
	b, err := resolve(shape, g)
	if err != nil {
		return b, err
	}
	if p.GroupSize > 0 && p.Axis != len(shape)-1 {
		return b, fmt.Errorf("quant: groups run along axis %d, but shape %v has its last axis at %d", p.Axis, shape, len(shape)-1)
	}
	if len(p.Scale) != b.nparams() || len(p.ZeroPoint) != len(p.Scale) {
		return b, fmt.Errorf("quant: %d scales and %d zero points for %v of shape %v, want %d",
			len(p.Scale), len(p.ZeroPoint), g, shape, b.nparams())
	}
	return b, nil
}
