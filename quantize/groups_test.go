package quantize

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// genericGroups is the path quantizeInt took for group-wise weights before quant's fused
// kernel: ChooseQParams, roundScales, Quantize, unsigned codes shifted to signed.
func genericGroups(ws weightScheme, l layer.Layer, x []float32) ([]int8, *quant.QParams, error) {
	tv := tensor.FromF32([]int{l.Shape[0], len(x) / l.Shape[0]}, x)
	p, err := quant.ChooseQParams(tv, ws.scheme, ws.granularity(layer.Layer{Axis: l.Axis}))
	if err != nil {
		return nil, nil, err
	}
	if err := roundScales(p, scaleDType(l.DType), 0); err != nil {
		return nil, nil, err
	}
	ct, err := quant.Quantize(tv, p)
	if err != nil {
		return nil, nil, err
	}
	codes := make([]int8, len(x))
	if ws.scheme.QType.Signed {
		copy(codes, ct.I8())
	} else {
		shiftCodes(codes, ct.U8(), ws.shift)
	}
	return codes, p, nil
}

// TestQuantizeGroupsMatchesGeneric: group-wise int4 weights (symmetric int4 and affine
// uint4, groups of 128 and 32, f32/f16/bf16 weights whose scales are stored rounded)
// give the codes, scales and zero points of the generic path exactly, large enough to
// split over workers; a scale that does not fit f16 is the same error.
func TestQuantizeGroupsMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	shapes := [][]int{{64, 384}, {3, 200}, {1024, 160}}
	cases := 0
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
		for _, sym := range []bool{true, false} {
			for _, group := range []int{128, 32} {
				for _, shape := range shapes {
					x := make([]float32, shape[0]*shape[1])
					for i := range x {
						x[i] = float32(rng.NormFloat64()) * 0.03 * float32(1+i%7)
						if i%300 < 130 && i/300%3 == 0 {
							x[i] = 0.25 // constant groups
						}
					}
					opts := DefaultOptions()
					opts.Weights = WeightOptions{DType: "int4", Symmetric: sym, GroupSize: group}
					ws, err := newWeightScheme(opts)
					if err != nil {
						t.Fatal(err)
					}
					l := layer.Layer{Name: "w", Type: "Linear", Weight: "w.weight", Shape: shape, DType: dt}
					name := fmt.Sprintf("%v sym=%v g%d %v", dt, sym, group, shape)
					lw, err := (&workspace{}).quantizeLayer(ws, l, tensor.FromF32(shape, slices.Clone(x)))
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					codes, p, err := genericGroups(ws, l, x)
					if err != nil {
						t.Fatalf("%s: generic: %v", name, err)
					}
					if !slices.Equal(lw.codes[:len(x)], codes) || !slices.Equal(lw.p.ZeroPoint, p.ZeroPoint) {
						t.Fatalf("%s: codes or zero points differ from the generic path", name)
					}
					for i := range p.Scale {
						if math.Float32bits(lw.p.Scale[i]) != math.Float32bits(p.Scale[i]) {
							t.Fatalf("%s: scale %d is %g, generic %g", name, i, lw.p.Scale[i], p.Scale[i])
						}
					}
					cases++
				}
			}
		}
	}
	t.Logf("%d weights bit-exact", cases)

	// 1e9/7.5 does not fit f16: both paths refuse the same block.
	x := make([]float32, 4*256)
	x[600] = 1e9
	opts := DefaultOptions()
	opts.Weights = WeightOptions{DType: "int4", Symmetric: true, GroupSize: 128}
	ws, err := newWeightScheme(opts)
	if err != nil {
		t.Fatal(err)
	}
	l := layer.Layer{Name: "w", Type: "Linear", Weight: "w.weight", Shape: []int{4, 256}, DType: tensor.F16}
	_, err = (&workspace{}).quantizeLayer(ws, l, tensor.FromF32(l.Shape, slices.Clone(x)))
	_, _, gerr := genericGroups(ws, l, x)
	if err == nil || gerr == nil || err.Error() != gerr.Error() {
		t.Fatalf("scale out of f16: fused %v, generic %v", err, gerr)
	}
}
