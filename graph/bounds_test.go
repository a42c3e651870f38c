package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// TestBroadcastBounded: outputs sized by broadcasting are checked against the element limit
// before anything is allocated, and the error names the node: at Load when the shapes are
// known (Expand to a constant shape), at Run otherwise ([N 1] + [1 N]).
func TestBroadcastBounded(t *testing.T) {
	shape := &onnxpb.TensorProto{Name: ptr("s"), DataType: ptr(int32(onnxpb.TensorProto_INT64)), Dims: []int64{4}, Int64Data: []int64{1 << 16, 1 << 15, 1, 3}}
	// x is [2 3]: Expand to [65536 32768 1 3] gives [65536 32768 2 3], 2^32 elements.
	m := model(13, node("Expand", "huge_expand", []string{"x", "s"}, []string{"y"}))
	m.Graph.Initializer = []*onnxpb.TensorProto{shape}
	_, err := Load(m, Options{})
	if err == nil || !strings.Contains(err.Error(), `node "huge_expand" (Expand)`) || !strings.Contains(err.Error(), "elements (limit") {
		t.Fatalf("Load: %v", err)
	}

	m = model(13, node("Add", "outer_sum", []string{"a", "b"}, []string{"y"}))
	m.Graph.Input = []*onnxpb.ValueInfoProto{vinfo("a", onnxpb.TensorProto_FLOAT, -1, 1), vinfo("b", onnxpb.TensorProto_FLOAT, 1, -1)}
	for _, in := range m.Graph.Input {
		for _, d := range in.Type.GetTensorType().Shape.Dim {
			if d.GetDimValue() < 0 {
				d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "n"}
			}
		}
	}
	g, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 1 << 16
	a, b := tensor.New(tensor.F32, n, 1), tensor.New(tensor.F32, 1, n)
	_, err = g.Run(context.Background(), map[string]*tensor.Tensor{"a": a, "b": b}, nil)
	if err == nil || !strings.Contains(err.Error(), `node "outer_sum" (Add)`) || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("Run: %v", err)
	}
}
