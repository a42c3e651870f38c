package graph

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// TestFusedConvClip runs Conv → Clip fused and unfused, the Clip's bounds made by Constant
// nodes that the model puts between the Conv and the Clip (as torch's exporter does): the
// Constants run first (topoSort), so the Conv and the Clip are neighbours and fuse, for a
// depthwise Conv (which clamps each plane) and a GEMM one. The output must be the same bit
// for bit; bounds that are not usable (min above max) leave the Clip to its own kernel.
// The hook watching only the output sees the Conv's value exactly when the Clip did not
// fuse.
func TestFusedConvClip(t *testing.T) {
	pads := &onnxpb.AttributeProto{Name: ptr("pads"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1, 1, 1, 1}}
	for _, c := range []struct {
		x, w  []int64
		group int64
	}{
		{[]int64{2, 8, 10, 9}, []int64{8, 1, 3, 3}, 8},
		{[]int64{2, 8, 9, 9}, []int64{16, 8, 3, 3}, 1},
	} {
		for _, b := range [][]float32{{0, 6}, {-0.25}, {-0.1, 0.1}, {0.3, -0.3}} {
			t.Run(fmt.Sprintf("%v_g%d_%v", c.w, c.group, b), func(t *testing.T) {
				m := convChainModel(c.x, c.w, c.group, false, pads)
				clip := m.Graph.Node[1]
				clip.OpType, clip.Name, clip.Input = ptr("Clip"), ptr("relu"), []string{"c", "lo", ""}
				clip.Input = clip.Input[:1+len(b)]
				nodes := m.Graph.Node[:1:1]
				for k, v := range b {
					name := []string{"lo", "hi"}[k]
					clip.Input[1+k] = name
					value := &onnxpb.TensorProto{DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{v}}
					nodes = append(nodes, node("Constant", name, nil, []string{name},
						&onnxpb.AttributeProto{Name: ptr("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: value}))
				}
				m.Graph.Node = append(nodes, clip)
				g, err := Load(m, Options{})
				if err != nil {
					t.Fatal(err)
				}
				x := tensor.New(tensor.F32, int(c.x[0]), int(c.x[1]), int(c.x[2]), int(c.x[3]))
				for i := range x.F32() {
					x.F32()[i] = float32(math.Sin(float64(i))) * 8
				}
				feed := map[string]*tensor.Tensor{"x": x}
				want, err := g.Run(context.Background(), feed, &Hooks{AfterNode: func(*Node, []*tensor.Tensor, []*tensor.Tensor) error { return nil }})
				if err != nil {
					t.Fatal(err)
				}
				sawConv := false
				watchY := &Hooks{Watch: func(v string) bool { return v == "y" }, AfterNode: func(n *Node, _, outs []*tensor.Tensor) error {
					if n.Name == "conv" {
						sawConv = outs[0] != nil
					}
					return nil
				}}
				for i, h := range []*Hooks{nil, watchY} {
					got, err := g.Run(context.Background(), feed, h)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.EqualFunc(want["y"].F32(), got["y"].F32(), func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
						t.Fatalf("run %d differs from the unfused run", i)
					}
				}
				fused := len(b) < 2 || b[0] <= b[1]
				if sawConv == fused {
					t.Errorf("the Conv's output was computed: %v, fused: %v", sawConv, fused)
				}
			})
		}
	}
}
