// Package graph runs ONNX graphs in pure Go, so that qscript can calibrate static quantization
// without ONNX Runtime. Load checks the whole graph up front (every op, attribute and dtype is
// either supported or named in an *UnsupportedError), infers types and the shapes it can, and
// compiles each node into a kernel; Run then executes the nodes in topological order, calls
// hooks with every node's inputs and outputs, and drops each intermediate value after its last
// use.
//
// Use:
//
//	g, err := graph.Load(model, graph.Options{External: resolver}) // model: *onnxpb.ModelProto
//	for _, in := range g.Inputs() { ... in.Name, in.DType, in.Shape (-1 = dynamic) ... }
//	outs, err := g.Run(ctx, map[string]*tensor.Tensor{"input": x}, &graph.Hooks{
//		AfterNode: func(n *graph.Node, ins, outs []*tensor.Tensor) error { ... observe ... },
//	})
//
// Concurrency: a *Graph is immutable after Load; Run keeps all of its state on its own stack,
// so any number of Runs may share one *Graph from different goroutines. A hook runs on the
// goroutine of the Run that calls it. Kernels (GEMM, pooling, element maps) also split large
// work over GOMAXPROCS goroutines.
//
// Ops are those of the default domain (ai.onnx), opsets 1 to 21 (SupportedOps lists them);
// the conformance test in this package runs ONNX's own node tests for each of them. Float ops
// compute in float32 (element functions and reductions in float64), shape ops in int64/int32/bool.
// Conv, Gemm and MatMul use im2col and a packed, blocked, parallel SGEMM whose micro-kernel is
// AVX2/FMA assembly on amd64 CPUs that have it and portable Go elsewhere (or with -tags purego).
package graph
