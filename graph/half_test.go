package graph

import (
	"context"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// TestFloat16Model: a model whose input, initializer and output are float16 runs in float32
// (the hook sees float32) and returns float16; float32 data fed to its float16 input is
// rounded to float16 first.
func TestFloat16Model(t *testing.T) {
	w := tensor.FromF32To(tensor.F16, []int{3}, []float32{0.1, -2.5, 1000.3})
	m := model(13, node("Add", "add", []string{"x", "w"}, []string{"y"}))
	m.Graph.Input = []*onnxpb.ValueInfoProto{vinfo("x", onnxpb.TensorProto_FLOAT16, 2, 3)}
	m.Graph.Output = []*onnxpb.ValueInfoProto{vinfo("y", onnxpb.TensorProto_FLOAT16, 2, 3)}
	m.Graph.Initializer = []*onnxpb.TensorProto{{Name: ptr("w"), DataType: ptr(int32(onnxpb.TensorProto_FLOAT16)), Dims: []int64{3}, RawData: w.Data}}
	g, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if in := g.Inputs()[0]; in.DType != tensor.F16 {
		t.Fatalf("input dtype %v", in.DType)
	}
	if vi, _ := g.ValueInfo("w"); vi.DType != tensor.F32 || vi.ModelDType != tensor.F16 {
		t.Fatalf("initializer info %+v", vi)
	}
	xs := []float32{1, 2.0002, -3, 0.333, 65504, -0.0001}
	for _, feed := range []*tensor.Tensor{tensor.FromF32To(tensor.F16, []int{2, 3}, xs), tensor.FromF32([]int{2, 3}, xs)} {
		var seen tensor.DType
		outs, err := g.Run(context.Background(), map[string]*tensor.Tensor{"x": feed}, &Hooks{AfterNode: func(n *Node, ins, outs []*tensor.Tensor) error {
			seen = outs[0].DType
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		y := outs["y"]
		if y.DType != tensor.F16 || seen != tensor.F32 {
			t.Fatalf("output %v, hook saw %v", y.DType, seen)
		}
		wv, got := w.ToF32(), y.ToF32()
		for i, x := range xs {
			xh := tensor.F16ToF32(tensor.F32ToF16(x))
			want := tensor.F16ToF32(tensor.F32ToF16(xh + wv[i%3]))
			if got[i] != want {
				t.Fatalf("fed %v: element %d = %v, want %v", feed.DType, i, got[i], want)
			}
		}
	}
}
