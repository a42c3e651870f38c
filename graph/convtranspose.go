package graph

import (
	"cmp"
	"fmt"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

// ConvTranspose, 1-D to 3-D: for each image and group one GEMM gives every (output channel,
// kernel tap) row times every input position (Wᵀ·X), and col2im adds each product at its
// output position (input position · stride - pad + tap · dilation).

func init() { ops["ConvTranspose"] = buildConvTranspose }

// convTParams are ConvTranspose's attributes resolved for one input: per spatial dim (padded
// to 3, outermost first), kernel, stride, dilation, leading pad, input and output sizes.
type convTParams struct {
	k, s, d, pad, in, out [3]int
	nd                    int
}

type convTAttrs struct {
	group                                             int
	autoPad                                           string
	kattr, strides, dilations, pads, outPad, outShape []int64
}

func buildConvTranspose(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 3, 1, 1), b.dtypesOf(0, 3, tensor.F32)); err != nil {
		return nil, err
	}
	a := convTAttrs{group: int(b.attrInt("group", 1)), autoPad: b.attrString("auto_pad", "NOTSET")}
	switch a.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return nil, b.unsupported("auto_pad=%q", a.autoPad)
	}
	if a.group <= 0 {
		return nil, b.errorf("group=%d", a.group)
	}
	a.kattr, _ = b.attrInts("kernel_shape")
	a.strides, _ = b.attrInts("strides")
	a.dilations, _ = b.attrInts("dilations")
	a.pads, _ = b.attrInts("pads")
	a.outPad, _ = b.attrInts("output_padding")
	a.outShape, _ = b.attrInts("output_shape")
	b.setOut(0, tensor.F32, nil)
	if x, w := b.in(0).Shape, b.in(1).Shape; x != nil && w != nil && !containsNeg(w) && !containsNeg(x[1:]) {
		if len(x) < 3 || len(x) > 5 {
			return nil, b.unsupported("%d-D transposed convolution (1-D to 3-D are supported)", len(x)-2)
		}
		if xs := append([]int{}, x...); xs[0] >= 0 {
			p, err := a.resolve(xs, w)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, tensor.F32, append([]int{x[0], w[1] * a.group}, p.out[3-p.nd:]...))
		} else {
			xs[0] = 1
			if p, err := a.resolve(xs, w); err == nil {
				b.setOut(0, tensor.F32, append([]int{-1, w[1] * a.group}, p.out[3-p.nd:]...))
			}
		}
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, w := ins[0], ins[1]
		p, err := a.resolve(x.Shape, w.Shape)
		if err != nil {
			return nil, err
		}
		m := w.Shape[1] * a.group
		var bias []float32
		if len(ins) > 2 && ins[2] != nil {
			if ins[2].Numel() != m {
				return nil, fmt.Errorf("bias %v for %d output channels", ins[2].Shape, m)
			}
			bias = elems[float32](ins[2])
		}
		shape := append([]int{x.Shape[0], m}, p.out[3-p.nd:]...)
		if err := checkOutputSize(shape); err != nil {
			return nil, err
		}
		return mem.result(convTranspose(mem, x, w, bias, p, a.group, shape)), nil
	}, nil
}

// resolve checks the shapes and computes the output size and pads (ONNX ConvTranspose: the
// output is stride·(in-1) + output_padding + (k-1)·dilation + 1 - pads, or output_shape with
// the pads it implies; SAME_UPPER puts the odd pad at the end, SAME_LOWER and NOTSET at the start).
func (a convTAttrs) resolve(x, w []int) (convTParams, error) {
	var p convTParams
	nd := len(x) - 2
	if nd < 1 || nd > 3 || len(w) != len(x) {
		return p, fmt.Errorf("input %v and weight %v: need [N C spatial...] (1 to 3 spatial dims) and [C M/group k...]", x, w)
	}
	if x[1] != w[0] || w[0]%a.group != 0 {
		return p, fmt.Errorf("input has %d channels, weight %v with group %d", x[1], w, a.group)
	}
	get := func(v []int64, i int, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		if len(v) != nd && !(len(v) == 2*nd) {
			return 0, fmt.Errorf("attribute %v does not fit %d spatial dims", v, nd)
		}
		return int(v[i]), nil
	}
	if a.kattr != nil && len(a.kattr) != nd {
		return p, fmt.Errorf("kernel_shape %v for %d spatial dims", a.kattr, nd)
	}
	if a.pads != nil && len(a.pads) != 2*nd {
		return p, fmt.Errorf("pads %v for %d spatial dims", a.pads, nd)
	}
	p.nd = nd
	for i := 0; i < 3; i++ {
		p.k[i], p.s[i], p.d[i], p.in[i], p.out[i] = 1, 1, 1, 1, 1
	}
	for i := 0; i < nd; i++ {
		j := 3 - nd + i
		k := w[2+i]
		if a.kattr != nil && int(a.kattr[i]) != k {
			return p, fmt.Errorf("kernel_shape %v disagrees with weight %v", a.kattr, w)
		}
		s, errS := get(a.strides, i, 1)
		d, errD := get(a.dilations, i, 1)
		op, errO := get(a.outPad, i, 0)
		if err := cmp.Or(errS, errD, errO); err != nil { // get is pure: the first error, as before
			return p, err
		}
		if s <= 0 || d <= 0 || k <= 0 || op < 0 {
			return p, fmt.Errorf("non-positive kernel %v, strides %v or dilations %v, or negative output_padding %v", w[2:], a.strides, a.dilations, a.outPad)
		}
		full := s*(x[2+i]-1) + op + (k-1)*d + 1
		var begin, end int
		switch {
		case a.outShape != nil || a.autoPad == "SAME_UPPER" || a.autoPad == "SAME_LOWER":
			target := x[2+i] * s
			if a.outShape != nil {
				if len(a.outShape) < nd {
					return p, fmt.Errorf("output_shape %v for %d spatial dims", a.outShape, nd)
				}
				target = int(a.outShape[len(a.outShape)-nd+i])
			}
			// A negative total (output_shape beyond what the taps reach) pads the end
			// with outputs that only get the bias.
			total := full - target
			half := floorDiv(total, 2)
			if a.autoPad == "SAME_UPPER" {
				begin, end = half, total-half
			} else {
				begin, end = total-half, half
			}
		case a.autoPad == "VALID":
		default:
			if a.pads != nil {
				begin, end = int(a.pads[i]), int(a.pads[i+nd])
			}
		}
		p.k[j], p.s[j], p.d[j], p.pad[j], p.in[j], p.out[j] = k, s, d, begin, x[2+i], full-begin-end
		if p.out[j] <= 0 {
			return p, fmt.Errorf("pads %v leave no output of input %v", a.pads, x)
		}
	}
	return p, nil
}

func convTranspose(mem *arena, x, w *tensor.Tensor, bias []float32, p convTParams, group int, shape []int) *tensor.Tensor {
	n, c := x.Shape[0], x.Shape[1]
	cg, mg := c/group, w.Shape[1]
	m := mg * group
	kprod := p.k[0] * p.k[1] * p.k[2]
	inPlane := p.in[0] * p.in[1] * p.in[2]
	outPlane := p.out[0] * p.out[1] * p.out[2]
	out, d := newTensorIn[float32](mem, tensor.F32, shape, true)
	xv, wv := elems[float32](x), elems[float32](w)
	cols := mem.getScratch(mg * kprod * inPlane)
	defer mem.putScratch(cols)
	rows := mg * kprod
	for b := 0; b < n; b++ {
		for g := 0; g < group; g++ {
			clear(cols[:rows*inPlane])
			a := sgemm.Matrix{Data: wv[g*cg*rows : (g+1)*cg*rows], LD: rows, Trans: true}
			src := sgemm.Matrix{Data: xv[(b*c+g*cg)*inPlane : (b*c+(g+1)*cg)*inPlane], LD: inPlane}
			sgemm.Run(gemmScratch{mem}, cols, inPlane, sgemm.Operands{A: a, B: src}, rows, inPlane, cg, 0)
			dst := d[(b*m+g*mg)*outPlane : (b*m+(g+1)*mg)*outPlane]
			col2im(dst, cols, mg, p)
		}
	}
	if bias != nil {
		for b := 0; b < n; b++ {
			for oc := 0; oc < m; oc++ {
				row := d[(b*m+oc)*outPlane : (b*m+oc+1)*outPlane]
				for i := range row {
					row[i] += bias[oc]
				}
			}
		}
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// col2im adds cols[(oc·kprod + tap)][input position] into dst[oc][output position].
func col2im(dst, cols []float32, mg int, p convTParams) {
	kprod := p.k[0] * p.k[1] * p.k[2]
	inPlane := p.in[0] * p.in[1] * p.in[2]
	outPlane := p.out[0] * p.out[1] * p.out[2]
	for oc := 0; oc < mg; oc++ {
		out := dst[oc*outPlane : (oc+1)*outPlane]
		for kz := 0; kz < p.k[0]; kz++ {
			for ky := 0; ky < p.k[1]; ky++ {
				for kx := 0; kx < p.k[2]; kx++ {
					tap := (kz*p.k[1]+ky)*p.k[2] + kx
					row := cols[(oc*kprod+tap)*inPlane : (oc*kprod+tap+1)*inPlane]
					col2imTap(out, row, p, kz, ky, kx)
				}
			}
		}
	}
}

// col2imTap adds one kernel tap's row of products at its output positions.
func col2imTap(out, row []float32, p convTParams, kz, ky, kx int) {
	for iz := 0; iz < p.in[0]; iz++ {
		oz := iz*p.s[0] - p.pad[0] + kz*p.d[0]
		if oz < 0 || oz >= p.out[0] {
			continue
		}
		for iy := 0; iy < p.in[1]; iy++ {
			oy := iy*p.s[1] - p.pad[1] + ky*p.d[1]
			if oy < 0 || oy >= p.out[1] {
				continue
			}
			src := row[(iz*p.in[1]+iy)*p.in[2] : (iz*p.in[1]+iy+1)*p.in[2]]
			dst := out[(oz*p.out[1]+oy)*p.out[2] : (oz*p.out[1]+oy+1)*p.out[2]]
			ox := -p.pad[2] + kx*p.d[2]
			for _, v := range src {
				if ox >= 0 && ox < len(dst) {
					dst[ox] += v
				}
				ox += p.s[2]
			}
		}
	}
}
