package static

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// TestInspect: inputs and outputs with symbolic dims, opsets, op counts, every node graph/
// cannot run (two here, in two domains), the upgrade of an opset-9 model and the weights
// Constant nodes compute.
func TestInspect(t *testing.T) {
	m := proto.Clone(constantModel(t, 9).Proto()).(*onnxpb.ModelProto)
	m.Graph.Node = append(m.Graph.Node,
		&onnxpb.NodeProto{OpType: proto.String("NoSuchOp"), Name: proto.String("/odd"), Input: []string{"y"}, Output: []string{"o1"}},
		&onnxpb.NodeProto{OpType: proto.String("Custom"), Domain: proto.String("com.example"), Name: proto.String("/custom"), Input: []string{"o1"}, Output: []string{"o2"}})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(1)})
	f, err := onnx.FromProto("", m, "")
	if err != nil {
		t.Fatal(err)
	}
	s := Inspect(f)
	if len(s.Inputs) != 1 || !slices.Equal(s.Inputs[0].Dims, []string{"N", "3", "4", "4"}) || s.Inputs[0].DType != "FLOAT" {
		t.Fatalf("inputs %+v", s.Inputs)
	}
	if len(s.Opsets) != 2 || s.Opsets[0] != (OpsetImport{"ai.onnx", 9}) || s.Nodes != 19 || s.Ops[0] != (OpCount{Op: "Constant", Count: 6}) {
		t.Fatalf("opsets %+v, %d nodes, ops %+v", s.Opsets, s.Nodes, s.Ops)
	}
	if len(s.Unsupported) != 2 || s.Unsupported[0].Node != "/odd" || s.Unsupported[1].Domain != "com.example" {
		t.Fatalf("unsupported %+v (load error %q)", s.Unsupported, s.LoadError)
	}
	if s.Upgrade != "upgraded from opset 9 to 13 in the QDQ file" || s.ConstantWeights != 4 {
		t.Fatalf("upgrade %q, constant weights %d", s.Upgrade, s.ConstantWeights)
	}
	var b strings.Builder
	s.WriteText(&b, func(s string) string { return s })
	for _, want := range []string{"input   x  FLOAT  [N, 3, 4, 4]", "opsets  ai.onnx 9, com.example 1", "19 nodes: Constant 6,",
		"graph/ cannot run 2 nodes:", "/custom  com.example.Custom (opset 1)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
