package graph

import (
	"cmp"
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// DepthToSpace (DCR and CRD modes) and SpaceToDepth: a reshape to 6-D, a transpose and a
// reshape back.

func init() {
	ops["DepthToSpace"] = depthSpaceOp(true)
	ops["SpaceToDepth"] = depthSpaceOp(false)
}

func depthSpaceOp(toSpace bool) opDef {
	return func(b *builder) (kernel, error) {
		if err := cmp.Or(b.arity(1, 1, 1, 1), b.dtypes(0, allTypes...)); err != nil {
			return nil, err
		}
		bs := int(b.attrInt("blocksize", 0))
		if bs <= 0 {
			return nil, b.errorf("blocksize=%d (want a positive block size)", bs)
		}
		mode := "DCR"
		if toSpace {
			mode = b.attrString("mode", "DCR")
			if mode != "DCR" && mode != "CRD" {
				return nil, b.unsupported("mode=%q", mode)
			}
		}
		plan := func(s []int) (six, perm, out []int, err error) {
			if len(s) != 4 {
				return nil, nil, nil, fmt.Errorf("input %v is not [N C H W]", s)
			}
			n, c, h, w := s[0], s[1], s[2], s[3]
			switch {
			case toSpace && c%(bs*bs) != 0:
				return nil, nil, nil, fmt.Errorf("%d channels do not split into blocks of %dx%d", c, bs, bs)
			case toSpace && mode == "DCR":
				return []int{n, bs, bs, c / (bs * bs), h, w}, []int{0, 3, 4, 1, 5, 2}, []int{n, c / (bs * bs), h * bs, w * bs}, nil
			case toSpace:
				return []int{n, c / (bs * bs), bs, bs, h, w}, []int{0, 1, 4, 2, 5, 3}, []int{n, c / (bs * bs), h * bs, w * bs}, nil
			case h%bs != 0 || w%bs != 0:
				return nil, nil, nil, fmt.Errorf("%dx%d does not split into blocks of %dx%d", h, w, bs, bs)
			}
			return []int{n, c, h / bs, bs, w / bs, bs}, []int{0, 3, 5, 1, 2, 4}, []int{n, c * bs * bs, h / bs, w / bs}, nil
		}
		b.setOut(0, b.in(0).DType, nil)
		if s := b.in(0).Shape; s != nil && !containsNeg(s) {
			_, _, out, err := plan(s)
			if err != nil {
				return nil, b.errorf("%v", err)
			}
			b.setOut(0, b.in(0).DType, out)
		}
		return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
			six, perm, out, err := plan(ins[0].Shape)
			if err != nil {
				return nil, err
			}
			t := transpose(mem, reshaped(ins[0], six), perm)
			return mem.result(mem.view(t, out)), nil
		}, nil
	}
}
