package graph

import (
	"math"
	"math/rand"
	"testing"
)

// TestDepthwiseVectorMatchesScalar checks depthwiseConv2d with its vector interior
// (depthwise3x3AVX, depthwise3x3S2AVX2) against the scalar loop, bit for bit, over widths around the
// vector's 8 and 16 outputs, paddings and strides, with NaN, infinities and -0 among the
// inputs: the vector kernel rounds each product and adds them in the scalar order.
func TestDepthwiseVectorMatchesScalar(t *testing.T) {
	if !haveDepthwiseAVX {
		t.Skip("no vector depthwise kernel on this machine")
	}
	defer func(v bool) { haveDepthwiseAVX = v }(haveDepthwiseAVX)
	rng := rand.New(rand.NewSource(1))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0}
	for _, w := range []int{1, 3, 7, 8, 9, 10, 14, 17, 18, 25, 28, 33, 56} {
		for _, pad := range []int{0, 1, 2} {
			for _, stride := range []int{1, 2} {
				const n, c, h = 2, 3, 5
				p := convParams{kernel: []int{3, 3}, strides: []int{stride, stride}, dilations: []int{1, 1},
					padBegin: []int{pad, pad}, padEnd: []int{pad, pad}}
				oh, ow := (h+2*pad-3)/stride+1, (w+2*pad-3)/stride+1
				if ow <= 0 || oh <= 0 {
					continue
				}
				p.out = []int{oh, ow}
				x := make([]float32, n*c*h*w)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
					if rng.Intn(50) == 0 {
						x[i] = special[rng.Intn(len(special))]
					}
				}
				wt, bias := make([]float32, c*9), make([]float32, c)
				for i := range wt {
					wt[i] = float32(rng.NormFloat64())
				}
				for i := range bias {
					bias[i] = float32(rng.NormFloat64())
				}
				for _, b := range [][]float32{nil, bias} {
					got, want := make([]float32, n*c*oh*ow), make([]float32, n*c*oh*ow)
					haveDepthwiseAVX = true
					depthwiseConv2d(nil, got, x, wt, b, n, c, h, w, p)
					haveDepthwiseAVX = false
					depthwiseConv2d(nil, want, x, wt, b, n, c, h, w, p)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
							t.Fatalf("w=%d pad=%d stride=%d bias=%v: output %d is %v, the scalar loop's %v", w, pad, stride, b != nil, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
