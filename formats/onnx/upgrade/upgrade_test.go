package upgrade_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/formats/onnx/upgrade"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

func ints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func intA(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func floatA(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: out, Attribute: attrs}
}

func vi(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}

func init64(t *testing.T, name string, v ...int64) *onnxpb.TensorProto {
	tt := tensor.New(tensor.I64, len(v))
	copy(tt.I64(), v)
	p, err := onnx.TensorToProto(name, tt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func initF(t *testing.T, name string, v ...float32) *onnxpb.TensorProto {
	p, err := onnx.TensorToProto(name, tensor.FromF32([]int{len(v)}, v))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// oldModel is a model in the form opset v writes: every op whose signature changed
// between v and 13 (attributes that became inputs, BatchNormalization's spatial, Softmax's
// 2-D coercion), each in the form of opset v.
func oldModel(t *testing.T, v int64) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: proto.String("old"), Input: []*onnxpb.ValueInfoProto{vi("x", 2, 3, 4, 5)},
		Output: []*onnxpb.ValueInfoProto{vi("rs"), vi("d"), vi("bn"), vi("tk"), vi("lsm")}}
	add := func(n *onnxpb.NodeProto) { g.Node = append(g.Node, n) }
	if v < 13 {
		add(node("Unsqueeze", "unsq", []string{"x"}, []string{"u"}, ints("axes", 0)))
		add(node("Squeeze", "sq", []string{"u"}, []string{"s"}, ints("axes", 0)))
	} else {
		g.Initializer = append(g.Initializer, init64(t, "ax0", 0))
		add(node("Unsqueeze", "unsq", []string{"x", "ax0"}, []string{"u"}))
		add(node("Squeeze", "sq", []string{"u", "ax0"}, []string{"s"}))
	}
	if v < 10 {
		add(node("Slice", "slice", []string{"s"}, []string{"sl"}, ints("starts", 1), ints("ends", 4), ints("axes", 3)))
		// TopK-1 (k attribute): graph/ runs only TopK-10 and later, so TestUpgradeTopK checks it.
		g.Output = slices.DeleteFunc(g.Output, func(o *onnxpb.ValueInfoProto) bool { return o.GetName() == "tk" })
	} else {
		g.Initializer = append(g.Initializer, init64(t, "st", 1), init64(t, "en", 4), init64(t, "ax3", 3), init64(t, "k", 2))
		add(node("Slice", "slice", []string{"s", "st", "en", "ax3"}, []string{"sl"}))
		add(node("TopK", "topk", []string{"x", "k"}, []string{"tk", "tki"}))
	}
	if v < 11 {
		add(node("Clip", "clip", []string{"sl"}, []string{"c"}, floatA("min", -0.5), floatA("max", 0.7)))
		add(node("Pad", "pad", []string{"c"}, []string{"p"}, ints("pads", 0, 0, 1, 0, 0, 0, 0, 1), floatA("value", 0.25)))
	} else {
		lo, _ := onnx.TensorToProto("lo", tensor.FromF32([]int{}, []float32{-0.5}))
		hi, _ := onnx.TensorToProto("hi", tensor.FromF32([]int{}, []float32{0.7}))
		pv, _ := onnx.TensorToProto("pv", tensor.FromF32([]int{}, []float32{0.25}))
		g.Initializer = append(g.Initializer, lo, hi, pv, init64(t, "pads", 0, 0, 1, 0, 0, 0, 0, 1))
		add(node("Clip", "clip", []string{"sl", "lo", "hi"}, []string{"c"}))
		add(node("Pad", "pad", []string{"c", "pads", "pv"}, []string{"p"}))
	}
	add(node("Split", "split", []string{"p"}, []string{"a", "b"}, intA("axis", 1), ints("split", 1, 2)))
	add(node("Softmax", "softmax", []string{"b"}, []string{"sm"}, intA("axis", 1)))
	add(node("LogSoftmax", "logsoftmax", []string{"b"}, []string{"lsm"}))
	add(node("ReduceSum", "rsum", []string{"sm"}, []string{"rs"}, ints("axes", 2), intA("keepdims", 1)))
	if v < 12 {
		add(node("Dropout", "drop", []string{"a"}, []string{"d"}, floatA("ratio", 0.3)))
	} else {
		r, _ := onnx.TensorToProto("ratio", tensor.FromF32([]int{}, []float32{0.3}))
		g.Initializer = append(g.Initializer, r)
		add(node("Dropout", "drop", []string{"a", "ratio"}, []string{"d"}))
	}
	bnAttrs := []*onnxpb.AttributeProto{floatA("epsilon", 1e-3)}
	if v < 9 {
		bnAttrs = append(bnAttrs, intA("spatial", 1))
	}
	g.Initializer = append(g.Initializer, initF(t, "sc", 1, 2, 3), initF(t, "bi", 0.1, 0.2, 0.3), initF(t, "me", 0, 0.5, -1), initF(t, "va", 1, 2, 0.5))
	add(node("BatchNormalization", "bn", []string{"x", "sc", "bi", "me", "va"}, []string{"bn"}, bnAttrs...))
	return &onnxpb.ModelProto{IrVersion: proto.Int64(3), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(v)}}}
}

func run(t *testing.T, m *onnxpb.ModelProto, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	g, err := graph.Load(m, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), map[string]*tensor.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpgradePerOpset: a model of each opset from 7 to 12, holding every op whose
// signature changed before 13, computes the same outputs before and after the upgrade,
// and the upgraded model is a valid opset-13 model (graph/ loads it at 13, which refuses
// the old attribute forms).
func TestUpgradePerOpset(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	x := tensor.New(tensor.F32, 2, 3, 4, 5)
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
	}
	for v := int64(7); v <= 12; v++ {
		old := oldModel(t, v)
		before := proto.Clone(old)
		up, err := upgrade.Upgrade(old, upgrade.Options{Rank: func(string) int { return 4 }})
		if err != nil {
			t.Fatalf("opset %d: %v", v, err)
		}
		if !proto.Equal(old, before) {
			t.Fatalf("opset %d: Upgrade modified its input", v)
		}
		if got := upgrade.Opset(up); got != 13 || up.GetIrVersion() < 7 {
			t.Fatalf("opset %d: upgraded to opset %d, IR %d", v, got, up.GetIrVersion())
		}
		for _, n := range up.GetGraph().GetNode() {
			for _, a := range n.GetAttribute() {
				switch a.GetName() {
				case "axes", "split", "starts", "ends", "k", "min", "max", "pads", "value", "ratio", "spatial":
					t.Errorf("opset %d: node %q still has attribute %q", v, n.GetName(), a.GetName())
				}
			}
		}
		want, got := run(t, old, x), run(t, up, x)
		for _, o := range old.GetGraph().GetOutput() {
			name := o.GetName()
			a, b := want[name].ToF32(), got[name].ToF32()
			if !slices.Equal(want[name].Shape, got[name].Shape) {
				t.Fatalf("opset %d: %s shape %v, upgraded %v", v, name, want[name].Shape, got[name].Shape)
			}
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-6 {
					t.Fatalf("opset %d: %s[%d] = %v, upgraded %v", v, name, i, a[i], b[i])
				}
			}
		}
	}
}

// TestUpgradeUnchangedAt13: a model at 13 or later is returned as is.
func TestUpgradeUnchangedAt13(t *testing.T) {
	m := oldModel(t, 13)
	up, err := upgrade.Upgrade(m, upgrade.Options{})
	if err != nil || up != m {
		t.Fatalf("Upgrade(opset 13) = %p, %v; want the model itself", up, err)
	}
}

// TestUpgradeResize: Upsample (7 and 9) and Resize-10 become Resize with the opset-10
// mapping spelled out (asymmetric, floor), and an empty roi.
func TestUpgradeResize(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		node *onnxpb.NodeProto
	}{
		{7, node("Upsample", "up", []string{"x"}, []string{"y"}, &onnxpb.AttributeProto{Name: proto.String("scales"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: []float32{1, 1, 2, 2}})},
		{9, node("Upsample", "up", []string{"x", "sc"}, []string{"y"})},
		{10, node("Resize", "up", []string{"x", "sc"}, []string{"y"})},
	} {
		g := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{tc.node}, Input: []*onnxpb.ValueInfoProto{vi("x", 1, 1, 2, 2)}, Output: []*onnxpb.ValueInfoProto{vi("y")}}
		m := &onnxpb.ModelProto{IrVersion: proto.Int64(4), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(tc.v)}}}
		up, err := upgrade.Upgrade(m, upgrade.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := up.GetGraph().GetNode()[0]
		if n.GetOpType() != "Resize" || len(n.GetInput()) != 3 || n.GetInput()[1] != "" || n.GetInput()[2] == "" {
			t.Fatalf("opset %d: got %v", tc.v, n)
		}
		attrs := map[string]string{}
		for _, a := range n.GetAttribute() {
			attrs[a.GetName()] = string(a.GetS())
		}
		if attrs["coordinate_transformation_mode"] != "asymmetric" || attrs["nearest_mode"] != "floor" {
			t.Fatalf("opset %d: attributes %v", tc.v, attrs)
		}
		if tc.v == 7 && up.GetGraph().GetInitializer()[0].GetName() != n.GetInput()[2] {
			t.Fatalf("opset 7: scales initializer not added")
		}
	}
}

// TestUpgradeNamesEveryFailure: nodes that cannot be upgraded are all named, with op
// and opset, in one error.
func TestUpgradeNamesEveryFailure(t *testing.T) {
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("BatchNormalization", "bn0", []string{"x", "s", "b", "m", "v"}, []string{"y"}, intA("spatial", 0)),
			node("ImageScaler", "scaler", []string{"y"}, []string{"z"}),
			node("Relu", "fine", []string{"z"}, []string{"w"}),
		},
		Input: []*onnxpb.ValueInfoProto{vi("x", 1, 3, 2, 2)}, Output: []*onnxpb.ValueInfoProto{vi("w")},
	}
	m := &onnxpb.ModelProto{Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(8)}}}
	err := upgrade.Check(m)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`node "bn0" (op BatchNormalization, opset 8): spatial=0`, `node "scaler" (op ImageScaler, opset 8)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var ne *upgrade.NodeError
	if !errors.As(err, &ne) || strings.Contains(err.Error(), "fine") {
		t.Errorf("error %v: want *NodeError for the two failing nodes only", err)
	}
	m.OpsetImport[0].Version = proto.Int64(6)
	if err := upgrade.Check(m); err == nil || !strings.Contains(err.Error(), "opset 6") {
		t.Errorf("opset 6: %v", err)
	}
}

// TestUpgradeTopK: TopK-1's k attribute becomes TopK-10's int64 [1] input.
func TestUpgradeTopK(t *testing.T) {
	g := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("TopK", "tk", []string{"x"}, []string{"v", "i"}, intA("k", 3))},
		Input: []*onnxpb.ValueInfoProto{vi("x", 2, 5)}, Output: []*onnxpb.ValueInfoProto{vi("v")}}
	m := &onnxpb.ModelProto{Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(9)}}}
	up, err := upgrade.Upgrade(m, upgrade.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := up.GetGraph().GetNode()[0]
	k := up.GetGraph().GetInitializer()[0]
	kt, err := onnx.TensorFromProto(k, "")
	if err != nil || len(n.GetInput()) != 2 || n.GetInput()[1] != k.GetName() || len(n.GetAttribute()) != 0 ||
		!slices.Equal(kt.Shape, []int{1}) || kt.I64()[0] != 3 {
		t.Fatalf("got node %v, k %v (%v)", n, kt, err)
	}
}

// TestUpgradeResizeNumerics: Upsample-7/9 and Resize-10 (nearest and linear, enlarging by
// non-integer factors) compute, upgraded to Resize-13, what graph/ computes for the original
// op (graph/ runs both forms and matches onnxruntime-node on them, interop/47).
func TestUpgradeResizeNumerics(t *testing.T) {
	x := tensor.New(tensor.F32, 1, 2, 3, 4)
	for i := range x.F32() {
		x.F32()[i] = float32(i*i%17) - 3
	}
	scales := []float32{1, 1, 2.5, 1.75}
	for _, mode := range []string{"nearest", "linear"} {
		modeA := &onnxpb.AttributeProto{Name: proto.String("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(mode)}
		sc := initF(t, "sc", scales...)
		for _, tc := range []struct {
			v     int64
			node  *onnxpb.NodeProto
			inits []*onnxpb.TensorProto
		}{
			{7, node("Upsample", "up", []string{"x"}, []string{"y"}, modeA, &onnxpb.AttributeProto{Name: proto.String("scales"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: scales}), nil},
			{9, node("Upsample", "up", []string{"x", "sc"}, []string{"y"}, modeA), []*onnxpb.TensorProto{sc}},
			{10, node("Resize", "up", []string{"x", "sc"}, []string{"y"}, modeA), []*onnxpb.TensorProto{sc}},
		} {
			g := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{tc.node}, Initializer: tc.inits,
				Input: []*onnxpb.ValueInfoProto{vi("x", 1, 2, 3, 4)}, Output: []*onnxpb.ValueInfoProto{vi("y")}}
			m := &onnxpb.ModelProto{IrVersion: proto.Int64(4), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(tc.v)}}}
			up, err := upgrade.Upgrade(m, upgrade.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, got := run(t, m, x)["y"], run(t, up, x)["y"]
			if !slices.Equal(want.Shape, got.Shape) {
				t.Fatalf("%s opset %d: shape %v, upgraded %v", mode, tc.v, want.Shape, got.Shape)
			}
			a, b := want.ToF32(), got.ToF32()
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-5 {
					t.Fatalf("%s opset %d: y[%d] = %v, upgraded %v", mode, tc.v, i, a[i], b[i])
				}
			}
		}
	}
}
