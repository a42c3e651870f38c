package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// GridSample (opsets 16 to 20) on 4-D inputs: nearest, bilinear and bicubic sampling (opset
// 20's "linear" and "cubic" names too) at normalized grid points, zeros, border or
// reflection padding, align_corners.

func init() { ops["GridSample"] = buildGridSample }

type gridSampler struct {
	mode, padding string
	align         bool
	h, w          int
}

func buildGridSample(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 2, 1, 1), b.dtypesOf(0, 2, tensor.F32)); err != nil {
		return nil, err
	}
	s := gridSampler{mode: b.attrString("mode", "bilinear"), padding: b.attrString("padding_mode", "zeros"), align: b.attrInt("align_corners", 0) != 0}
	switch s.mode {
	case "linear":
		s.mode = "bilinear"
	case "cubic":
		s.mode = "bicubic"
	case "bilinear", "bicubic", "nearest":
	default:
		return nil, b.unsupported("mode=%q", s.mode)
	}
	switch s.padding {
	case "zeros", "border", "reflection":
	default:
		return nil, b.unsupported("padding_mode=%q", s.padding)
	}
	if x, g := b.in(0).Shape, b.in(1).Shape; len(x) == 4 && len(g) == 4 {
		b.setOut(0, tensor.F32, []int{x[0], x[1], g[1], g[2]})
	} else {
		b.setOut(0, tensor.F32, nil)
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, g := ins[0], ins[1]
		if len(x.Shape) != 4 || len(g.Shape) != 4 || g.Shape[0] != x.Shape[0] || g.Shape[3] != 2 {
			return nil, fmt.Errorf("input %v and grid %v: want [N C H W] and [N Hout Wout 2] (4-D only)", x.Shape, g.Shape)
		}
		n, c, ho, wo := x.Shape[0], x.Shape[1], g.Shape[1], g.Shape[2]
		s := s
		s.h, s.w = x.Shape[2], x.Shape[3]
		out, d := newTensorIn[float32](mem, tensor.F32, []int{n, c, ho, wo}, false)
		xv, gv := elems[float32](x), elems[float32](g)
		plane := s.h * s.w
		for bi := 0; bi < n; bi++ {
			for p := 0; p < ho*wo; p++ {
				gx, gy := float64(gv[(bi*ho*wo+p)*2]), float64(gv[(bi*ho*wo+p)*2+1])
				for ch := 0; ch < c; ch++ {
					img := xv[(bi*c+ch)*plane : (bi*c+ch+1)*plane]
					d[(bi*c+ch)*ho*wo+p] = float32(s.sample(img, gx, gy))
				}
			}
		}
		return mem.result(out), nil
	}, nil
}

// denorm maps a normalized coordinate to pixels.
func (s gridSampler) denorm(v float64, size int) float64 {
	if s.align {
		return (v + 1) / 2 * float64(size-1)
	}
	return ((v+1)*float64(size) - 1) / 2
}

// bounds are the coordinate range reflection folds into.
func (s gridSampler) bounds(size int) (float64, float64) {
	if s.align {
		return 0, float64(size - 1)
	}
	return -0.5, float64(size) - 0.5
}

// reflect folds v into [lo, hi].
func reflect(v, lo, hi float64) float64 {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	switch {
	case v < lo:
		dx := lo - v
		k := math.Floor(dx / span)
		r := dx - k*span
		if int(k)%2 == 0 {
			return lo + r
		}
		return hi - r
	case v > hi:
		dx := v - hi
		k := math.Floor(dx / span)
		r := dx - k*span
		if int(k)%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return v
}

// coord applies the padding mode to a pixel coordinate before sampling.
func (s gridSampler) coord(v float64, size int) float64 {
	switch s.padding {
	case "border":
		return math.Max(0, math.Min(float64(size-1), v))
	case "reflection":
		lo, hi := s.bounds(size)
		return reflect(v, lo, hi)
	}
	return v
}

// pixel reads the image at integer (r, c) under the padding mode.
func (s gridSampler) pixel(img []float32, r, c int) float64 {
	switch s.padding {
	case "zeros":
		if r < 0 || r >= s.h || c < 0 || c >= s.w {
			return 0
		}
	case "border":
		r, c = clampInt(r, 0, s.h-1), clampInt(c, 0, s.w-1)
	case "reflection":
		lo, hi := s.bounds(s.h)
		r = clampInt(int(reflect(float64(r), lo, hi)), 0, s.h-1)
		lo, hi = s.bounds(s.w)
		c = clampInt(int(reflect(float64(c), lo, hi)), 0, s.w-1)
	}
	return float64(img[r*s.w+c])
}

func (s gridSampler) sample(img []float32, gx, gy float64) float64 {
	x, y := s.denorm(gx, s.w), s.denorm(gy, s.h)
	if s.mode != "bicubic" {
		// Bicubic pads each of its 16 taps (pixel), as onnxruntime and torch do; the others
		// move the sampling point itself into the image first.
		x, y = s.coord(x, s.w), s.coord(y, s.h)
	}
	switch s.mode {
	case "nearest":
		return s.pixel(img, int(math.RoundToEven(y)), int(math.RoundToEven(x)))
	case "bilinear":
		x0, y0 := math.Floor(x), math.Floor(y)
		dx, dy := x-x0, y-y0
		c0, r0 := int(x0), int(y0)
		return (1-dy)*((1-dx)*s.pixel(img, r0, c0)+dx*s.pixel(img, r0, c0+1)) +
			dy*((1-dx)*s.pixel(img, r0+1, c0)+dx*s.pixel(img, r0+1, c0+1))
	}
	x0, y0 := math.Floor(x), math.Floor(y)
	dx, dy := x-x0, y-y0
	var wx, wy [4]float64
	for k := 0; k < 4; k++ {
		wx[k] = cubicWeight(float64(k-1)-dx, -0.75)
		wy[k] = cubicWeight(float64(k-1)-dy, -0.75)
	}
	sum := 0.0
	for i := 0; i < 4; i++ {
		row := 0.0
		for j := 0; j < 4; j++ {
			row += wx[j] * s.pixel(img, int(y0)-1+i, int(x0)-1+j)
		}
		sum += wy[i] * row
	}
	return sum
}
