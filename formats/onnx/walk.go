package onnx

import "github.com/qscript-dev/qscript/formats/onnx/onnxpb"

// Nodes returns the nodes of g and of the subgraphs of its nodes (If branches, Loop and
// Scan bodies), depth first: each subgraph's nodes right after the node that holds them,
// attributes in the node's order.
func Nodes(g *onnxpb.GraphProto) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.GetNode() {
			out = append(out, n)
			for _, a := range n.GetAttribute() {
				if a.G != nil {
					walk(a.G)
				}
				for _, sg := range a.Graphs {
					walk(sg)
				}
			}
		}
	}
	walk(g)
	return out
}
