package bindings_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

func bindVI(name string, elem onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(elem)), Shape: s}}}}
}

func writeModel(t *testing.T, path string, g *onnxpb.GraphProto, inits map[string]*tensor.Tensor) {
	t.Helper()
	for name, x := range inits {
		tp, err := onnx.TensorToProto(name, x)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func bindNode(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String("/" + op + "_" + out), Input: in, Output: []string{out}, Attribute: attrs}
}

// TestCalibrationBindings runs qs.quantize's calibration on the input layouts of issue 9:
// two inputs from an .npz by name (stored in another order); a scalar int64 `sr` input from
// a folder of one .npz per sample; a recurrent state carried with state = {out, into} (the
// data has no array for it) on axis 1 of [2, N, 4]; a state sample of the wrong shape, whose
// error names the input, the model's dims and the sample's shape. Each reports its accuracy.
func TestCalibrationBindings(t *testing.T) {
	dir := t.TempDir()
	w := tensor.FromF32([]int{4, 3}, []float32{0.5, -1, 0.25, 1, 0.5, -0.5, -0.25, 0.75, 1, 0.1, -0.2, 0.3})
	f32 := onnxpb.TensorProto_FLOAT
	writeModel(t, filepath.Join(dir, "multi.onnx"), &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{bindNode("Add", []string{"a", "b"}, "s"), bindNode("MatMul", []string{"s", "w"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{bindVI("a", f32, "N", 4), bindVI("b", f32, "N", 4)},
		Output: []*onnxpb.ValueInfoProto{bindVI("y", f32, "N", 3)},
	}, map[string]*tensor.Tensor{"w": w})
	writeModel(t, filepath.Join(dir, "scalar.onnx"), &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			bindNode("Cast", []string{"sr"}, "srf", &onnxpb.AttributeProto{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}),
			bindNode("Div", []string{"srf", "k"}, "gain"), bindNode("Mul", []string{"x", "gain"}, "xs"), bindNode("MatMul", []string{"xs", "w"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{bindVI("x", f32, "N", 4), bindVI("sr", onnxpb.TensorProto_INT64)},
		Output: []*onnxpb.ValueInfoProto{bindVI("y", f32, "N", 3)},
	}, map[string]*tensor.Tensor{"w": w, "k": tensor.FromF32([]int{}, []float32{16000})})
	// state [2, N, 4] (batch on axis 1, as a 2-layer RNN's h0): h' = 0.5 h + x.
	writeModel(t, filepath.Join(dir, "state.onnx"), &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{bindNode("Mul", []string{"h", "half"}, "hh"), bindNode("Add", []string{"hh", "x"}, "hn"),
			bindNode("MatMul", []string{"hn", "w"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{bindVI("x", f32, "N", 4), bindVI("h", f32, 2, "N", 4)},
		Output: []*onnxpb.ValueInfoProto{bindVI("y", f32, 2, "N", 3), bindVI("hn", f32, 2, "N", 4)},
	}, map[string]*tensor.Tensor{"w": w, "half": tensor.FromF32([]int{}, []float32{0.5})})

	// A Conv whose weight is a Constant node (Paddle's way): qs.load folds it, so the
	// layer listing (and recipeutil's first_conv) sees the Conv.
	wc, err := onnx.TensorToProto("", tensor.FromF32([]int{2, 1, 1, 1}, []float32{0.5, -2}))
	if err != nil {
		t.Fatal(err)
	}
	wc.Name = nil
	writeModel(t, filepath.Join(dir, "const.onnx"), &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			{OpType: proto.String("Constant"), Name: proto.String("/w"), Output: []string{"w"},
				Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: wc}}},
			bindNode("Conv", []string{"x", "w"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{bindVI("x", f32, "N", 1, 2, 2)},
		Output: []*onnxpb.ValueInfoProto{bindVI("y", f32, "N", 2, 2, 2)},
	}, nil)

	n := 12
	rows := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32((i*7)%13)/13 - 0.4
		}
		return x
	}
	arrays := map[string]*tensor.Tensor{"a": rows(n, 4), "b": rows(n, 4), "x": rows(n, 4)}
	write := func(path string, names []string, get map[string]*tensor.Tensor) {
		err := npy.WriteNPZ(context.Background(), path, names, false, func(name string) (*tensor.Tensor, error) { return get[name], nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "multi.npz"), []string{"b", "a"}, arrays)
	write(filepath.Join(dir, "stream.npz"), []string{"x"}, arrays)
	arrays["h"] = rows(n, 3, 4)
	write(filepath.Join(dir, "bad.npz"), []string{"x", "h"}, arrays)
	if err := os.Mkdir(filepath.Join(dir, "chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		sr := tensor.New(tensor.I64)
		sr.I64()[0] = 16000
		write(filepath.Join(dir, "chunks", fmt.Sprintf("%03d.npz", i)), []string{"x", "sr"}, map[string]*tensor.Tensor{"x": rows(1, 4), "sr": sr})
	}

	h := newTestHost(t, nil)
	script := `
local qs = require "qs"
local dir = arg.dir
local function check(name, model, acts)
  local q = qs.quantize(qs.load(dir .. "/" .. model), {activations = acts})
  local r = q:report()
  assert(r.totals.quantized == 1, name .. ": " .. r.totals.quantized .. " quantized")
  assert(r.accuracy and r.accuracy.output_sqnr_db > 20, name .. ": output SQNR " .. tostring(r.accuracy and r.accuracy.output_sqnr_db))
  return q, r
end
local convs = qs.load(dir .. "/const.onnx"):layers("Conv")
assert(#convs == 1 and convs[1].name == "/Conv_y", "Constant-weight Conv not listed: " .. #convs)
check("npz by name", "multi.onnx", {calibrate = qs.data.npz(dir .. "/multi.npz"), samples = 12, observer = "minmax"})
local _, r = check("scalar sr", "scalar.onnx", {calibrate = qs.data.folder(dir .. "/chunks"), samples = 12})
-- A Lua data source: a function giving one sample per call, nil after the last.
check("data function", "scalar.onnx", {observer = "minmax", calibrate = function(i)
  if i > 12 then return nil end
  return {x = qs.tensor({i / 12, -0.5, 0.25, (i % 5) / 5}, {shape = {4}}), sr = qs.tensor(16000, {dtype = "I64"})}
end})
local _, r2 = check("state", "state.onnx", {calibrate = qs.data.npz(dir .. "/stream.npz"), samples = 12, state = {out = "hn", into = "h"}})
local ok, err = pcall(qs.quantize, qs.load(dir .. "/state.onnx"), {activations = {calibrate = qs.data.npz(dir .. "/stream.npz")}})
assert(not ok and tostring(err):find('no array for model input "h"', 1, true), tostring(err))
ok, err = pcall(qs.quantize, qs.load(dir .. "/state.onnx"), {activations = {calibrate = qs.data.npz(dir .. "/bad.npz"),
  state = {out = "hn", into = "h"}}})
assert(not ok and tostring(err):find('sample shape [3,4] does not fit model input "h" [2,N,4] (a sample is the input without its batch axis 1', 1, true), tostring(err))
return "ok"
`
	res, err := h.RunString(context.Background(), "calibbind.lua", script, map[string]string{"dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := res.Value().(string); v != "ok" {
		t.Fatalf("script returned %v", res.Value())
	}
}
