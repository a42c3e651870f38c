package graph

import (
	"math"
	"math/rand"
	"testing"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
)

// TestDepthwiseMatchesGeneric checks depthwiseConv2d, with and without its vector interior
// (depthwise3x3AVX, depthwise3x3S2AVX2, where present), against the loop that checks every
// tap's bounds (depthwiseGeneric), bit for bit, over widths around the vector's 8 and 16
// outputs, planes of 3×4 to 14×14 (depthwisePlane3x3's flat run), paddings (first and last
// rows with one or two kernel rows outside) and strides, with NaN, infinities and -0 among
// the inputs: every path rounds each product and adds them in the generic loop's order.
func TestDepthwiseMatchesGeneric(t *testing.T) {
	vectors := []bool{false}
	if haveDepthwiseAVX {
		vectors = append(vectors, true)
	}
	defer func(v bool) { haveDepthwiseAVX = v }(haveDepthwiseAVX)
	rng := rand.New(rand.NewSource(1))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0}
	for _, hw := range [][2]int{{5, 1}, {5, 3}, {5, 7}, {5, 8}, {5, 9}, {5, 10}, {5, 14}, {5, 17}, {5, 18}, {5, 25},
		{5, 28}, {5, 33}, {5, 56}, {3, 4}, {3, 9}, {4, 4}, {7, 7}, {14, 14}, {2, 7}, {6, 5}} {
		h, w := hw[0], hw[1]
		for _, pad := range []int{0, 1, 2} {
			for _, stride := range []int{1, 2} {
				const n, c = 2, 3
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
					want := depthwiseReference(x, wt, b, n, c, h, w, p)
					for _, vector := range vectors {
						got := make([]float32, n*c*oh*ow)
						haveDepthwiseAVX = vector
						depthwiseConv2d(nil, got, x, wt, b, n, c, h, w, p, sgemm.Activation{})
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
								t.Fatalf("h=%d w=%d pad=%d stride=%d bias=%v vector=%v: output %d is %v, the scalar loop's %v", h, w, pad, stride, b != nil, vector, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// depthwiseReference is depthwiseConv2d with every output computed by depthwiseGeneric,
// which checks each tap's bounds: the order of operations the faster paths keep.
func depthwiseReference(x, wt, bias []float32, n, c, h, w int, p convParams) []float32 {
	oh, ow := p.out[0], p.out[1]
	d := make([]float32, n*c*oh*ow)
	for plane := 0; plane < n*c; plane++ {
		b := float32(0)
		if bias != nil {
			b = bias[plane%c]
		}
		img, kern := x[plane*h*w:(plane+1)*h*w], wt[(plane%c)*9:(plane%c+1)*9]
		for oy := 0; oy < oh; oy++ {
			depthwiseGeneric(d[(plane*oh+oy)*ow:(plane*oh+oy+1)*ow], img, kern, b, h, w, oy*p.strides[0]-p.padBegin[0], 0, p)
		}
	}
	return d
}
