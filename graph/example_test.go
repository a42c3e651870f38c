package graph_test

import (
	"context"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// Example runs the committed CNN once and counts, per op type, the nodes a hook observed.
func Example() {
	b, err := os.ReadFile("testdata/models/cnn13/model.onnx")
	if err != nil {
		panic(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	g, err := graph.Load(&m, graph.Options{})
	if err != nil {
		panic(err)
	}
	in := g.Inputs()[0]
	fmt.Println("input", in.Name, in.DType, in.Shape, in.DimParams)
	x := tensor.New(tensor.F32, 2, in.Shape[1], in.Shape[2], in.Shape[3])
	convs := 0
	outs, err := g.Run(context.Background(), map[string]*tensor.Tensor{in.Name: x}, &graph.Hooks{
		AfterNode: func(n *graph.Node, ins, outs []*tensor.Tensor) error {
			if n.OpType == "Conv" {
				convs++
			}
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("convs", convs, "output", outs[g.Outputs()[0].Name].Shape)
	// Output:
	// input input F32 [-1 3 12 12] [batch   ]
	// convs 3 output [2 10]
}
