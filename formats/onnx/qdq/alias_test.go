package qdq

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// TestIdentityKeptForFloatReaders: a bias shared through Identity with a skipped node stays
// float for that node (the Identity stays), while the quantized node reads int32 codes.
func TestIdentityKeptForFloatReaders(t *testing.T) {
	f32 := func(name string, dims []int64, v ...float32) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			RawData: append([]byte(nil), tensor.Bytes(v)...)}
	}
	conv := func(name, x, w, b, y string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String("Conv"), Name: proto.String(name), Input: []string{x, w, b}, Output: []string{y}}
	}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Initializer: []*onnxpb.TensorProto{f32("w", []int64{1, 1, 1, 1}, 0.5), f32("b", []int64{1}, 0.25)},
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("Identity"), Name: proto.String("/Identity"), Input: []string{"b"}, Output: []string{"b_alias"}},
				conv("/c1", "x", "w", "b", "y1"),
				conv("/c2", "y1", "w", "b_alias", "y2"),
			},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y2")}},
		}}
	act := &quant.QParams{Scale: []float32{0.1}, ZeroPoint: []int32{128}, Axis: -1, Scheme: quant.Scheme{QType: quant.QUInt8}}
	wq := &quant.QParams{Scale: []float32{0.5 / 127}, Axis: 0, Scheme: quant.Scheme{QType: quant.QInt8}}
	plan := &Plan{Nodes: map[string]NodePlan{"/c1": {Weight: wq}, "/c2": {Skip: true}},
		Activations: map[string]*quant.QParams{"x": act}}
	out, err := Export(m, plan)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*onnxpb.NodeProto{}
	for _, n := range out.Graph.Node {
		nodes[n.GetName()] = n
	}
	if nodes["/Identity"] == nil || nodes["/c2"].Input[2] != "b_alias" {
		t.Errorf("the skipped conv must keep reading the float bias through its Identity: %v", nodes["/c2"])
	}
	if got := nodes["/c1"].Input[2]; got != "b_DequantizeLinear_Output" {
		t.Errorf("quantized conv reads bias %q, want b_DequantizeLinear_Output (b stays float for /c2)", got)
	}
	kept := map[string]bool{}
	for _, it := range out.Graph.Initializer {
		kept[it.GetName()] = true
	}
	if !kept["b"] || !kept["b_quantized"] || !kept["w"] {
		t.Errorf("initializers %v: want float b and w (read by /c2) and b_quantized", kept)
	}
}
