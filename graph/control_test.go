package graph

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

func graphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// controlModel: h = Relu(x); y = If(c, then: h + x, else: -h); Loop 3 times acc += h, with
// acc scanned out. Both subgraphs read h and x from the main graph.
func controlModel() *onnxpb.ModelProto {
	then := &onnxpb.GraphProto{Name: ptr("then"), Node: []*onnxpb.NodeProto{node("Add", "then_add", []string{"h", "x"}, []string{"t"})},
		Output: []*onnxpb.ValueInfoProto{vinfo("t", onnxpb.TensorProto_FLOAT, 2, 3)}}
	els := &onnxpb.GraphProto{Name: ptr("else"), Node: []*onnxpb.NodeProto{node("Neg", "else_neg", []string{"h"}, []string{"e"})},
		Output: []*onnxpb.ValueInfoProto{vinfo("e", onnxpb.TensorProto_FLOAT, 2, 3)}}
	body := &onnxpb.GraphProto{Name: ptr("body"),
		Input: []*onnxpb.ValueInfoProto{vinfo("i", onnxpb.TensorProto_INT64), vinfo("cin", onnxpb.TensorProto_BOOL), vinfo("acc_in", onnxpb.TensorProto_FLOAT)},
		Node: []*onnxpb.NodeProto{
			node("Add", "body_add", []string{"acc_in", "h"}, []string{"acc_out"}),
			node("Identity", "body_cond", []string{"cin"}, []string{"cout"}),
			node("Identity", "body_scan", []string{"acc_out"}, []string{"scan"}),
		},
		Output: []*onnxpb.ValueInfoProto{vinfo("cout", onnxpb.TensorProto_BOOL), vinfo("acc_out", onnxpb.TensorProto_FLOAT), vinfo("scan", onnxpb.TensorProto_FLOAT)}}
	m := model(13,
		node("Relu", "relu", []string{"x"}, []string{"h"}),
		node("If", "if", []string{"c"}, []string{"y"}, graphAttr("then_branch", then), graphAttr("else_branch", els)),
		node("Loop", "loop", []string{"M", "", "x"}, []string{"acc", "scans"}, graphAttr("body", body)))
	m.Graph.Input = append(m.Graph.Input, vinfo("c", onnxpb.TensorProto_BOOL))
	m.Graph.Initializer = []*onnxpb.TensorProto{{Name: ptr("M"), DataType: ptr(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{3}}}
	m.Graph.Output = append(m.Graph.Output, vinfo("acc", onnxpb.TensorProto_FLOAT), vinfo("scans", onnxpb.TensorProto_FLOAT))
	return m
}

func TestIfLoopOuterScopeAndHooks(t *testing.T) {
	g, err := Load(controlModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	xs := []float32{-1, 2, -3, 4, 0.5, -6}
	x := tensor.FromF32([]int{2, 3}, xs)
	for _, cond := range []bool{true, false} {
		c := tensor.New(tensor.Bool)
		if cond {
			c.Data[0] = 1
		}
		seen := map[string]int{}
		hooks := &Hooks{AfterNode: func(n *Node, ins, outs []*tensor.Tensor) error {
			parent := ""
			if n.Parent != nil {
				parent = n.Parent.Name + "/"
			}
			seen[parent+n.Name]++
			return nil
		}}
		outs, err := g.Run(context.Background(), map[string]*tensor.Tensor{"x": x, "c": c}, hooks)
		if err != nil {
			t.Fatal(err)
		}
		y, acc, scans := outs["y"].ToF32(), outs["acc"].ToF32(), outs["scans"]
		if !slices.Equal(scans.Shape, []int{3, 2, 3}) {
			t.Fatalf("scans shape %v", scans.Shape)
		}
		sv := scans.ToF32()
		for i, v := range xs {
			h := max(v, 0)
			want := -h
			if cond {
				want = h + v
			}
			if y[i] != want || acc[i] != v+3*h || sv[i] != v+h || sv[12+i] != v+3*h {
				t.Fatalf("cond %v element %d: y %v acc %v scan %v/%v (x %v)", cond, i, y[i], acc[i], sv[i], sv[12+i], v)
			}
		}
		branch := "if/else_neg"
		if cond {
			branch = "if/then_add"
		}
		if seen[branch] != 1 || seen["loop/body_add"] != 3 || seen["if"] != 1 || seen["loop"] != 1 {
			t.Fatalf("hooks saw %v", seen)
		}
	}
	if vi, ok := g.ValueInfo("acc_out"); !ok || vi.DType != tensor.F32 {
		t.Fatalf("ValueInfo of a Loop body value: %+v %v", vi, ok)
	}
	var walked []string
	g.Walk(func(n *Node) { walked = append(walked, n.Name) })
	want := []string{"relu", "else_neg", "then_add", "if", "body_add", "body_cond", "body_scan", "loop"}
	if len(walked) != len(want) {
		t.Fatalf("Walk %v, want %v", walked, want)
	}
	for i := range want {
		if walked[i] != want[i] {
			t.Fatalf("Walk %v, want %v", walked, want)
		}
	}
}

// TestUnsupportedInsideSubgraph: a node Load cannot run inside a Loop body is named with the
// others of the main graph, in one error.
func TestUnsupportedInsideSubgraph(t *testing.T) {
	m := controlModel()
	for _, n := range m.Graph.Node {
		if n.GetOpType() == "Loop" {
			n.Attribute[0].G.Node[0].OpType = ptr("FancyAdd")
		}
		if n.GetOpType() == "Relu" {
			n.OpType = ptr("FancyRelu")
		}
	}
	_, err := Load(m, Options{})
	var all *UnsupportedOpsError
	if !errors.As(err, &all) || len(all.Nodes) != 2 || all.Nodes[0].Node != "relu" || all.Nodes[1].Node != "body_add" || all.Nodes[1].Opset != 13 {
		t.Fatalf("error %v", err)
	}
}

// TestScanRefusesLargeOutputEarly: a Scan whose stacked output would exceed the output
// limit (2048 iterations of 2^20 floats) is refused after the body's first run, not after
// 2048 runs holding 8 GB of parts.
func TestScanRefusesLargeOutputEarly(t *testing.T) {
	body := &onnxpb.GraphProto{Name: ptr("body"),
		Input:       []*onnxpb.ValueInfoProto{vinfo("e", onnxpb.TensorProto_FLOAT, 1)},
		Initializer: []*onnxpb.TensorProto{{Name: ptr("n"), DataType: ptr(int32(onnxpb.TensorProto_INT64)), Dims: []int64{1}, Int64Data: []int64{1 << 20}}},
		Node:        []*onnxpb.NodeProto{node("Expand", "expand", []string{"e", "n"}, []string{"big"})},
		Output:      []*onnxpb.ValueInfoProto{vinfo("big", onnxpb.TensorProto_FLOAT)}}
	m := model(13, node("Scan", "scan", []string{"x"}, []string{"y"}, graphAttr("body", body),
		&onnxpb.AttributeProto{Name: ptr("num_scan_inputs"), Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(int64(1))}))
	m.Graph.Input = []*onnxpb.ValueInfoProto{vinfo("x", onnxpb.TensorProto_FLOAT, 2048, 1)}
	g, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	_, err = g.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 2048, 1)},
		&Hooks{AfterNode: func(n *Node, _, _ []*tensor.Tensor) error { runs++; return nil }})
	want := `graph: node "scan" (Scan): scan output 0: output shape [2048 1048576] has 2147483648 elements (limit 1073741824)`
	if err == nil || err.Error() != want || runs != 1 {
		t.Fatalf("error %v after %d body runs, want %q after 1", err, runs, want)
	}
}
