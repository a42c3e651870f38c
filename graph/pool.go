package graph

import (
	"cmp"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

func init() {
	ops["MaxPool"] = poolOp(true)
	ops["AveragePool"] = poolOp(false)
	ops["GlobalAveragePool"] = globalPoolOp(false)
	ops["GlobalMaxPool"] = globalPoolOp(true)
}

func poolOp(isMax bool) opDef {
	return func(b *builder) (kernel, error) {
		if len(b.n.Outputs) > 1 {
			if isMax {
				return buildMaxPoolIndices(b)
			}
			return nil, b.errorf("has %d outputs, want 1", len(b.n.Outputs))
		}
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32)); err != nil {
			return nil, err
		}
		pa, err := readPoolAttrs(b)
		if err != nil {
			return nil, err
		}
		includePad := false
		if isMax {
			b.ignoreAttrs("storage_order") // it orders the Indices output only
		} else {
			includePad = b.attrInt("count_include_pad", 0) != 0
		}
		resolve := pa.params
		b.setOut(0, tensor.F32, nil)
		if x := b.in(0).Shape; x != nil && !containsNeg(x[2:]) {
			p, err := resolve(nil, x)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, tensor.F32, append([]int{x[0], x[1]}, p.out...))
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			p, err := resolve(mem, ins[0].Shape)
			if err != nil {
				return nil, err
			}
			return mem.result(pool(mem, ins[0], p, isMax, includePad)), nil
		}, nil
	}
}

// poolAttrs are the window attributes MaxPool (both forms) and AveragePool share.
type poolAttrs struct {
	autoPad                  string
	ceil                     bool
	kernel                   []int
	strides, dilations, pads []int64
}

func readPoolAttrs(b *builder) (poolAttrs, error) {
	a := poolAttrs{autoPad: b.attrString("auto_pad", "NOTSET"), ceil: b.attrInt("ceil_mode", 0) != 0}
	switch a.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return a, b.unsupported("auto_pad=%q", a.autoPad)
	}
	k64, ok := b.attrInts("kernel_shape")
	if !ok {
		return a, b.errorf("missing kernel_shape")
	}
	a.kernel = make([]int, len(k64))
	for i, v := range k64 {
		a.kernel[i] = int(v)
	}
	a.strides, _ = b.attrInts("strides")
	a.dilations, _ = b.attrInts("dilations")
	a.pads, _ = b.attrInts("pads")
	return a, nil
}

// params resolves the window for an input shape [N C spatial...].
func (a poolAttrs) params(mem *arena, x []int) (convParams, error) {
	if len(x) != len(a.kernel)+2 {
		return convParams{}, fmt.Errorf("input %v for kernel %v", x, a.kernel)
	}
	return spatialParams(mem, x[2:], a.kernel, a.strides, a.dilations, a.pads, a.autoPad, a.ceil)
}

// pool computes max or average pooling over any number of spatial dims. Windows are clipped
// to the input; an average divides by the clipped window, or with includePad by the window
// clipped to the padded input, as ONNX Runtime does.
func pool(mem *arena, x *tensor.Tensor, p convParams, isMax, includePad bool) *tensor.Tensor {
	if len(p.kernel) == 2 {
		return pool2d(mem, x, p, isMax, includePad)
	}
	spatial := x.Shape[2:]
	nd := len(spatial)
	out, d := newTensor[float32](tensor.F32, append([]int{x.Shape[0], x.Shape[1]}, p.out...))
	xv := elems[float32](x)
	inPlane, outPlane := product(spatial), product(p.out)
	inStr := tensor.ContiguousStrides(spatial)
	lo, hi := make([]int, nd), make([]int, nd)
	for plane := 0; plane < x.Shape[0]*x.Shape[1]; plane++ {
		src := xv[plane*inPlane : (plane+1)*inPlane]
		dst := d[plane*outPlane : (plane+1)*outPlane]
		forEachIndex(p.out, func(o int, oi []int) {
			padCount := 1
			for i := range oi {
				start := oi[i]*p.strides[i] - p.padBegin[i]
				lo[i], hi[i] = start, start+(p.kernel[i]-1)*p.dilations[i]+1
				padHi := min(hi[i], spatial[i]+p.padEnd[i])
				padCount *= (padHi - start + p.dilations[i] - 1) / p.dilations[i]
			}
			acc, count := poolStart(isMax), 0
			var walk func(dim, off int)
			walk = func(dim, off int) {
				if dim == nd {
					acc = poolAdd(acc, src[off], isMax)
					count++
					return
				}
				for pos := lo[dim]; pos < hi[dim]; pos += p.dilations[dim] {
					if pos >= 0 && pos < spatial[dim] {
						walk(dim+1, off+pos*inStr[dim])
					}
				}
			}
			walk(0, 0)
			if includePad {
				count = padCount
			}
			dst[o] = poolEnd(acc, count, isMax)
		})
	}
	return out
}

func globalPoolOp(isMax bool) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, tensor.F32)); err != nil {
			return nil, err
		}
		b.setOut(0, tensor.F32, nil)
		if x := b.in(0).Shape; len(x) >= 2 {
			b.setOut(0, tensor.F32, onesFrom(nil, x, 2))
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := ins[0]
			if len(x.Shape) < 2 {
				return nil, fmt.Errorf("input %v has no spatial dims", x.Shape)
			}
			out, d := newTensorIn[float32](mem, tensor.F32, onesFrom(mem, x.Shape, 2), false)
			xv := elems[float32](x)
			plane := product(x.Shape[2:])
			for i := range d {
				row := xv[i*plane : (i+1)*plane]
				if isMax {
					m := float32(math.Inf(-1))
					for _, v := range row {
						if v > m {
							m = v
						}
					}
					d[i] = m
					continue
				}
				var sum float64
				for _, v := range row {
					sum += float64(v)
				}
				d[i] = float32(sum / float64(plane))
			}
			return mem.result(out), nil
		}, nil
	}
}

// poolStart, poolAdd and poolEnd are a window's accumulator: a max that lets a NaN through,
// or a sum divided by count at the end.
func poolStart(isMax bool) float32 {
	if isMax {
		return float32(math.Inf(-1))
	}
	return 0
}

func poolAdd(acc, v float32, isMax bool) float32 {
	if !isMax {
		return acc + v
	}
	if v > acc || v != v {
		return v
	}
	return acc
}

func poolEnd(acc float32, count int, isMax bool) float32 {
	if !isMax && count > 0 {
		acc /= float32(count)
	}
	return acc
}

// pool2d is pool for two spatial dims with the window loops unrolled by dimension; planes
// (batch × channel) are split across workers.
func pool2d(mem *arena, x *tensor.Tensor, p convParams, isMax, includePad bool) *tensor.Tensor {
	h, w := x.Shape[2], x.Shape[3]
	oh, ow := p.out[0], p.out[1]
	out, d := newTensorIn[float32](mem, tensor.F32, []int{x.Shape[0], x.Shape[1], oh, ow}, false)
	xv := elems[float32](x)
	planes := x.Shape[0] * x.Shape[1]
	work := planes * oh * ow * p.kernel[0] * p.kernel[1]
	forRange(mem, planes, work, pool2dArgs{d: d, xv: xv, h: h, w: w, p: p, isMax: isMax, includePad: includePad}, pool2dArgs.run)
	return out
}

// pool2dArgs is pool2d's work, run over a range of planes.
type pool2dArgs struct {
	d, xv             []float32
	h, w              int
	p                 convParams
	isMax, includePad bool
}

func (a pool2dArgs) run(lo, hi int) {
	d, xv, h, w, p, isMax, includePad := a.d, a.xv, a.h, a.w, a.p, a.isMax, a.includePad
	oh, ow := p.out[0], p.out[1]
	kh, kw, sh, sw := p.kernel[0], p.kernel[1], p.strides[0], p.strides[1]
	dh, dw, pt, pl := p.dilations[0], p.dilations[1], p.padBegin[0], p.padBegin[1]
	if dh == 1 && dw == 1 {
		for plane := lo; plane < hi; plane++ {
			pool2dPlane(d[plane*oh*ow:(plane+1)*oh*ow], xv[plane*h*w:(plane+1)*h*w], h, w, p, isMax, includePad)
		}
		return
	}
	for plane := lo; plane < hi; plane++ {
		src := xv[plane*h*w : (plane+1)*h*w]
		dst := d[plane*oh*ow : (plane+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			y0 := oy*sh - pt
			y1 := y0 + (kh-1)*dh + 1
			padRows := (min(y1, h+p.padEnd[0]) - y0 + dh - 1) / dh
			for ox := 0; ox < ow; ox++ {
				x0 := ox*sw - pl
				x1 := x0 + (kw-1)*dw + 1
				if isMax && y0 >= 0 && y1 <= h && x0 >= 0 && x1 <= w {
					// Window inside the image: no bounds tests.
					acc := src[y0*w+x0]
					for yy := y0; yy < y1; yy += dh {
						row := src[yy*w+x0 : yy*w+x1]
						for xx := 0; xx < len(row); xx += dw {
							if v := row[xx]; v > acc || v != v {
								acc = v
							}
						}
					}
					dst[oy*ow+ox] = acc
					continue
				}
				acc, count := poolStart(isMax), 0
				for yy := y0; yy < y1; yy += dh {
					if yy < 0 || yy >= h {
						continue
					}
					row := src[yy*w : (yy+1)*w]
					for xx := x0; xx < x1; xx += dw {
						if xx < 0 || xx >= w {
							continue
						}
						acc = poolAdd(acc, row[xx], isMax)
						count++
					}
				}
				if includePad {
					count = padRows * ((min(x1, w+p.padEnd[1]) - x0 + dw - 1) / dw)
				}
				dst[oy*ow+ox] = poolEnd(acc, count, isMax)
			}
		}
	}
}

// pool2dPlane pools one plane without dilation: each window is clipped to the image once,
// then read row by row with no bounds tests. Max uses the builtin max, which keeps a NaN
// like the general loop (it may return +0 where that loop returns the -0 met first).
func pool2dPlane(dst, src []float32, h, w int, p convParams, isMax, includePad bool) {
	kh, kw, sh, sw := p.kernel[0], p.kernel[1], p.strides[0], p.strides[1]
	pt, pl := p.padBegin[0], p.padBegin[1]
	oh, ow := p.out[0], p.out[1]
	dst = dst[:oh*ow]
	for oy := 0; oy < oh; oy++ {
		y0 := oy*sh - pt
		ya, yb := max(y0, 0), min(y0+kh, h)
		padRows := min(y0+kh, h+p.padEnd[0]) - y0
		row := dst[oy*ow : (oy+1)*ow]
		for ox := range row {
			x0 := ox*sw - pl
			xa, xb := max(x0, 0), min(x0+kw, w)
			if isMax && kw == 2 && xb-xa == 2 {
				// The common 2×2 window: a loop of two costs more than the comparisons.
				acc := float32(math.Inf(-1))
				for yy := ya; yy < yb; yy++ {
					r := src[yy*w+xa : yy*w+xa+2]
					acc = max(acc, r[0], r[1])
				}
				row[ox] = acc
				continue
			}
			if isMax && kw == 3 && xb-xa == 3 {
				// resnet's 3×3 stride-2 window, unrolled likewise.
				acc := float32(math.Inf(-1))
				for yy := ya; yy < yb; yy++ {
					r := src[yy*w+xa : yy*w+xa+3]
					acc = max(acc, r[0], r[1], r[2])
				}
				row[ox] = acc
				continue
			}
			if isMax {
				acc := float32(math.Inf(-1))
				for yy := ya; yy < yb; yy++ {
					for _, v := range src[yy*w+xa : yy*w+xb] {
						acc = max(acc, v)
					}
				}
				row[ox] = acc
				continue
			}
			acc := float32(0)
			for yy := ya; yy < yb; yy++ {
				for _, v := range src[yy*w+xa : yy*w+xb] {
					acc += v
				}
			}
			count := max(yb-ya, 0) * max(xb-xa, 0)
			if includePad {
				count = padRows * (min(x0+kw, w+p.padEnd[1]) - x0)
			}
			if count > 0 {
				acc /= float32(count)
			}
			row[ox] = acc
		}
	}
}
