package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

func ptr[T any](v T) *T { return &v }

func vinfo(name string, dt onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: ptr(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(dt)), Shape: shape}}}}
}

func node(op, name string, ins, outs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: ptr(op), Name: ptr(name), Input: ins, Output: outs, Attribute: attrs}
}

func model(opset int64, nodes ...*onnxpb.NodeProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(opset)}},
		Graph: &onnxpb.GraphProto{
			Node:   nodes,
			Input:  []*onnxpb.ValueInfoProto{vinfo("x", onnxpb.TensorProto_FLOAT, 2, 3)},
			Output: []*onnxpb.ValueInfoProto{vinfo("y", onnxpb.TensorProto_FLOAT)},
		},
	}
}

func TestLoadErrors(t *testing.T) {
	intAttr := func(name string, v int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: ptr(name), Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(v)}
	}
	cases := []struct {
		name        string
		m           *onnxpb.ModelProto
		unsupported bool
		want        string
	}{
		{"unknown op", model(13, node("Relu", "r", []string{"x"}, []string{"h"}), node("FancyOp", "fancy_1", []string{"h"}, []string{"y"})),
			true, `graph: unsupported: node "fancy_1" (op FancyOp, opset 13): op not implemented`},
		{"other domain", model(13, &onnxpb.NodeProto{OpType: ptr("Gelu"), Name: ptr("g"), Domain: ptr("com.microsoft"), Input: []string{"x"}, Output: []string{"y"}}),
			true, `graph: unsupported: node "g" (op Gelu, domain com.microsoft, opset 0): only the ai.onnx domain is supported`},
		{"unknown attribute", model(13, node("Relu", "r", []string{"x"}, []string{"y"}, intAttr("fused", 1))),
			true, `graph: unsupported: node "r" (op Relu, opset 13): attribute "fused"`},
		{"bad attribute value", model(13, node("Pad", "p", []string{"x", "x"}, []string{"y"}, &onnxpb.AttributeProto{Name: ptr("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("wrap")})),
			true, `graph: unsupported: node "p" (op Pad, opset 13): mode="wrap"`},
		{"dtype", model(13, node("Cast", "c", []string{"x"}, []string{"h"}, intAttr("to", int64(onnxpb.TensorProto_DOUBLE))), node("Conv", "conv", []string{"h", "h"}, []string{"y"})),
			true, `graph: unsupported: node "conv" (op Conv, opset 13): input 0 ("h") has dtype F64; supported: [F32]`},
		{"training", model(15, node("BatchNormalization", "bn", []string{"x", "x", "x", "x", "x"}, []string{"y"}, intAttr("training_mode", 1))),
			true, `graph: unsupported: node "bn" (op BatchNormalization, opset 15): training mode (only inference is supported)`},
		{"old opset form", model(6, node("Add", "a", []string{"x", "x"}, []string{"y"})),
			true, `graph: unsupported: node "a" (op Add, opset 6): the opset 6 form of the op (supported from opset 7)`},
		{"opset too new", model(22, node("Relu", "r", []string{"x"}, []string{"y"})),
			true, `graph: unsupported: ai.onnx opset 22 (supported: 1 to 21)`},
		{"cycle", model(13, node("Relu", "a", []string{"x2"}, []string{"x1"}), node("Relu", "b", []string{"x1"}, []string{"x2"}), node("Relu", "c", []string{"x"}, []string{"y"})),
			false, `graph: the graph has a cycle through nodes "a" (Relu), "b" (Relu)`},
		{"dangling input", model(13, node("Add", "a", []string{"x", "ghost"}, []string{"y"})),
			false, `graph: input "ghost" of node "a" (Add) is produced by no node, graph input or initializer`},
		{"shape mismatch", model(13, node("MatMul", "mm", []string{"x", "x"}, []string{"y"})),
			false, `graph: node "mm" (MatMul): matmul of [2 3] and [2 3]: inner dims 3 and 2 differ`},
		{"missing output", model(13, node("Relu", "r", []string{"x"}, []string{"z"})),
			false, `graph: output "y" is produced by no node, input or initializer`},
	}
	for _, c := range cases {
		_, err := Load(c.m, Options{})
		if c.name == "other domain" {
			// The domain's opset is the model's import of it.
			c.m.OpsetImport = append(c.m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: ptr("com.microsoft"), Version: ptr(int64(1))})
			_, err = Load(c.m, Options{})
			c.want = strings.Replace(c.want, "opset 0", "opset 1", 1)
		}
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, c.want)
		}
		if errors.Is(err, ErrUnsupported) != c.unsupported {
			t.Errorf("%s: errors.Is(err, ErrUnsupported) = %v", c.name, !c.unsupported)
		}
		var ue *UnsupportedError
		if errors.As(err, &ue) && !strings.Contains(err.Error(), ue.OpType) {
			t.Errorf("%s: error does not name the op", c.name)
		}
	}
}

// TestLoadSortsNodes feeds nodes in reverse order and expects them sorted.
func TestLoadSortsNodes(t *testing.T) {
	m := model(13, node("Relu", "second", []string{"h"}, []string{"y"}), node("Neg", "first", []string{"x"}, []string{"h"}))
	g, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Nodes()[0].Name != "first" || g.Nodes()[1].Name != "second" {
		t.Fatalf("order %s, %s", g.Nodes()[0].Name, g.Nodes()[1].Name)
	}
	if in := g.Inputs(); len(in) != 1 || in[0].Name != "x" || !slices.Equal(in[0].Shape, []int{2, 3}) {
		t.Fatalf("inputs %+v", in)
	}
	if out, _ := g.ValueInfo("h"); !slices.Equal(out.Shape, []int{2, 3}) {
		t.Fatalf("inferred %+v", out)
	}
	if p, ok := g.Producer("h"); !ok || p.Name != "first" {
		t.Fatalf("producer of h: %v", p)
	}
	if c := g.Consumers("h"); len(c) != 1 || c[0].Name != "second" {
		t.Fatalf("consumers of h: %v", c)
	}
	if _, ok := g.Producer("x"); ok || !g.IsOutput("y") || g.IsOutput("h") {
		t.Fatal("Producer/IsOutput disagree with the graph")
	}
}

// TestLoadNamesEveryUnsupportedNode: Load goes on past the first unsupported node and names
// them all, grouped by op, with each domain's own opset.
func TestLoadNamesEveryUnsupportedNode(t *testing.T) {
	m := model(9,
		node("FancyOp", "f1", []string{"x"}, []string{"a"}),
		node("Relu", "r", []string{"a"}, []string{"b"}),
		node("FancyOp", "f2", []string{"b"}, []string{"c"}),
		&onnxpb.NodeProto{OpType: ptr("FusedGelu"), Name: ptr("g"), Domain: ptr("com.microsoft"), Input: []string{"c"}, Output: []string{"y"}})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: ptr("com.microsoft"), Version: ptr(int64(1))})
	_, err := Load(m, Options{})
	want := "graph: unsupported: 3 nodes (2 op types) the executor cannot run:\n" +
		"  op FancyOp, opset 9: op not implemented: nodes \"f1\", \"f2\"\n" +
		"  op FusedGelu, domain com.microsoft, opset 1: only the ai.onnx domain is supported: node \"g\""
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	var ue *UnsupportedError
	if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.Node != "f1" {
		t.Fatalf("errors.Is/As: %v", ue)
	}
	var all *UnsupportedOpsError
	if !errors.As(err, &all) || len(all.Nodes) != 3 || all.Nodes[2].Domain != "com.microsoft" || all.Nodes[2].Opset != 1 {
		t.Fatalf("UnsupportedOpsError %+v", all)
	}
}
