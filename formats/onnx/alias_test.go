package onnx

import (
	"maps"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

func identity(name, in, out string) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String("Identity"), Name: proto.String(name), Input: []string{in}, Output: []string{out}}
}

func TestInitializerAliases(t *testing.T) {
	g := &onnxpb.GraphProto{
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("w")}},
		Node: []*onnxpb.NodeProto{
			identity("a", "w", "w1"), identity("b", "w1", "w2"), // a chain
			identity("c", "x", "x1"),                                         // of an activation
			identity("d", "loop2", "loop1"), identity("e", "loop1", "loop2"), // a cycle (malformed)
			{OpType: proto.String("Identity"), Domain: proto.String("com.example"), Input: []string{"w"}, Output: []string{"custom"}},
		},
	}
	got := InitializerAliases(g)
	want := map[string]string{"w1": "w", "w2": "w"}
	if !maps.Equal(got, want) {
		t.Errorf("aliases %v, want %v", got, want)
	}
	if Resolve(got, "w2") != "w" || Resolve(got, "x1") != "x1" {
		t.Error("Resolve")
	}
}
