package graph

import (
	"cmp"
	"fmt"
	"math"
	"sort"

	"github.com/qscript-dev/qscript/tensor"
)

// NonMaxSuppression, the window functions of opset 17 (HannWindow, HammingWindow,
// BlackmanWindow) and DynamicQuantizeLinear.

func init() {
	ops["NonMaxSuppression"] = buildNMS
	ops["HannWindow"] = windowOp(0.5, 0.5, 0)
	ops["HammingWindow"] = windowOp(25.0/46, 21.0/46, 0)
	ops["BlackmanWindow"] = windowOp(0.42, 0.5, 0.08)
	ops["DynamicQuantizeLinear"] = buildDynamicQuantizeLinear
}

func buildNMS(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(2, 5, 1, 1), b.dtypes(0, tensor.F32), b.dtypes(1, tensor.F32)); err != nil {
		return nil, err
	}
	center := b.attrInt("center_point_box", 0) != 0
	b.setOut(0, tensor.I64, []int{-1, 3})
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		boxes, scores := ins[0], ins[1]
		if len(boxes.Shape) != 3 || boxes.Shape[2] != 4 || len(scores.Shape) != 3 ||
			scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1] {
			return nil, fmt.Errorf("boxes %v and scores %v: want [B N 4] and [B C N]", boxes.Shape, scores.Shape)
		}
		maxOut, iouTh, scoreTh := int64(0), float32(0), float32(math.Inf(-1))
		if len(ins) > 2 && ins[2] != nil && ins[2].Numel() > 0 {
			v, err := toInts(mem, ins[2])
			if err != nil {
				return nil, err
			}
			maxOut = v[0]
		}
		if len(ins) > 3 && ins[3] != nil && ins[3].Numel() > 0 {
			iouTh = ins[3].ToF32()[0]
		}
		if len(ins) > 4 && ins[4] != nil && ins[4].Numel() > 0 {
			scoreTh = ins[4].ToF32()[0]
		}
		bv, sv := elems[float32](boxes), elems[float32](scores)
		nb, nc, n := scores.Shape[0], scores.Shape[1], scores.Shape[2]
		var sel []int64
		order := make([]int, 0, n)
		var kept []int
		for bi := 0; bi < nb; bi++ {
			for c := 0; c < nc && maxOut > 0; c++ {
				s := sv[(bi*nc+c)*n : (bi*nc+c+1)*n]
				order = order[:0]
				for i, v := range s {
					if v > scoreTh {
						order = append(order, i)
					}
				}
				sort.SliceStable(order, func(i, j int) bool { return s[order[i]] > s[order[j]] })
				kept = kept[:0]
				for _, i := range order {
					if int64(len(kept)) >= maxOut {
						break
					}
					ok := true
					for _, k := range kept {
						if boxIoU(bv[(bi*n+i)*4:][:4], bv[(bi*n+k)*4:][:4], center) > iouTh {
							ok = false
							break
						}
					}
					if ok {
						kept = append(kept, i)
						sel = append(sel, int64(bi), int64(c), int64(i))
					}
				}
			}
		}
		out, d := newTensor[int64](tensor.I64, []int{len(sel) / 3, 3})
		copy(d, sel)
		return mem.result(out), nil
	}, nil
}

// boxIoU is the intersection over union of two boxes, corners (y1 x1 y2 x2, in any order) or
// centers (xc yc w h); 0 when either box is empty.
func boxIoU(a, b []float32, center bool) float32 {
	corners := func(v []float32) (y0, x0, y1, x1 float32) {
		if center {
			return v[1] - v[3]/2, v[0] - v[2]/2, v[1] + v[3]/2, v[0] + v[2]/2
		}
		return min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3])
	}
	ay0, ax0, ay1, ax1 := corners(a)
	by0, bx0, by1, bx1 := corners(b)
	areaA, areaB := (ay1-ay0)*(ax1-ax0), (by1-by0)*(bx1-bx0)
	if areaA <= 0 || areaB <= 0 {
		return 0
	}
	ih, iw := min(ay1, by1)-max(ay0, by0), min(ax1, bx1)-max(ax0, bx0)
	if ih <= 0 || iw <= 0 {
		return 0
	}
	inter := ih * iw
	return inter / (areaA + areaB - inter)
}

// windowOp builds a generalized cosine window a0 - a1·cos(2πn/N) + a2·cos(4πn/N), N being
// the size (periodic) or the size - 1 (symmetric).
func windowOp(a0, a1, a2 float64) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, intTypes...)); err != nil {
			return nil, err
		}
		dt, ok := computeDType(int32(b.attrInt("output_datatype", 1)))
		if !ok {
			return nil, b.unsupported("output_datatype %d", b.attrInt("output_datatype", 1))
		}
		if isHalf(dt) {
			dt = tensor.F32
		}
		periodic := b.attrInt("periodic", 1) != 0
		b.setOut(0, dt, []int{-1})
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			sz, err := toInts(mem, ins[0])
			if err != nil || len(sz) != 1 || sz[0] < 0 {
				return nil, fmt.Errorf("size must be one non-negative integer")
			}
			size := int(sz[0])
			if err := checkOutputSize([]int{size}); err != nil {
				return nil, err
			}
			nn := float64(size)
			if !periodic {
				nn--
			}
			v := make([]float64, size)
			for i := range v {
				x := 2 * math.Pi * float64(i) / nn
				v[i] = a0 - a1*math.Cos(x) + a2*math.Cos(2*x)
			}
			return mem.single(fromF64(dt, []int{size}, v))
		}, nil
	}
}

func buildDynamicQuantizeLinear(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 3), b.dtypes(0, tensor.F32)); err != nil {
		return nil, err
	}
	b.setOut(0, tensor.U8, b.in(0).Shape)
	b.setOut(1, tensor.F32, []int{})
	b.setOut(2, tensor.U8, []int{})
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := elems[float32](ins[0])
		lo, hi := float32(0), float32(0)
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale := (hi - lo) / 255
		zp := float32(0)
		if scale != 0 {
			zp = float32(math.RoundToEven(float64(max(0, min(255, -lo/scale)))))
		}
		y, d := newTensor[uint8](tensor.U8, ins[0].Shape)
		for i, v := range x {
			q := zp
			if scale != 0 {
				q = float32(math.RoundToEven(float64(v/scale))) + zp
			}
			d[i] = uint8(max(0, min(255, q)))
		}
		st, sd := newTensor[float32](tensor.F32, []int{})
		sd[0] = scale
		zt, zd := newTensor[uint8](tensor.U8, []int{})
		zd[0] = uint8(zp)
		return []*tensor.Tensor{y, st, zt}, nil
	}, nil
}
