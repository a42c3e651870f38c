// Package graph runs ONNX graphs in pure Go, so that qscript can calibrate static quantization
// without ONNX Runtime. Load checks the whole graph up front (every op, attribute and dtype is
// either supported or named in an *UnsupportedError), infers types and the shapes it can, and
// compiles each node into a kernel; a run then executes the nodes in topological order, calls
// hooks with every node's inputs and outputs, and recycles each intermediate value's buffer
// once its last consumer has run.
//
// Use:
//
//	g, err := graph.LoadFile("model.onnx") // or graph.Load(proto, graph.Options{External: ...})
//	for _, in := range g.Inputs() { ... in.Name, in.DType, in.Shape (-1 = dynamic) ... }
//	outs, err := g.Run(ctx, map[string]*tensor.Tensor{"input": x}, &graph.Hooks{
//		AfterNode: func(n *graph.Node, ins, outs []*tensor.Tensor) error { ... observe ... },
//	})
//
// Memory: every run allocates its intermediate values, tensor headers, temporary ints and
// kernel scratch from an arena, which counts the live values using each buffer (views such as
// Reshape share their input's) and reuses its memory for later nodes and later runs once none
// does: buffers are carved out of a few large chunks, so a value of any size can take what
// another left. An element-wise node (Clip, Relu, Neg, Abs, Sign) writes its output over its
// input when it is that input's last reader and no hook watches the input (Hooks.Watch); the
// hook is then passed nil for that input. The tensors a hook sees are therefore valid only
// during the hook: it copies what it keeps, or names it in Hooks.Keep. What g.Run returns
// belongs to the caller for good. A Runner (g.NewRunner, g.NewRunnerWorkers) keeps one arena
// from run to run, so that a warm Runner allocates next to nothing; what Runner.Run returns
// stays valid only until that Runner's next Run returns.
//
// Concurrency: a *Graph is immutable after Load, and g.Run may be called from any number of
// goroutines at once: each call takes a Runner of its own from a pool. A Runner serves one
// goroutine at a time. A hook runs on the goroutine that called Run. Kernels (GEMM, pooling,
// element maps) split large work into disjoint output blocks over at most GOMAXPROCS
// goroutines, or the Runner's worker count (Runner.SetWorkers may change it during a run:
// results never depend on it).
//
// Ops are those of the default domain (ai.onnx), opsets 1 to 21 (SupportedOps lists them),
// each in every form it had from opset 7 on: attributes that became inputs (Squeeze, Split,
// ReduceX axes, Clip, Pad, Slice, TopK, Dropout ratio), Upsample and Resize-10's coordinates,
// BatchNormalization's spatial=0, Softmax's 2-D coercion before 13. Load reads the model's
// opset of every domain and names every node it cannot run in one error
// (*UnsupportedOpsError: node, op, domain, opset, reason). If and Loop run their subgraphs,
// which read values of the enclosing graphs (Attr.Graph, Node.Parent, Graph.Walk); hooks see
// the subgraphs' nodes too. float16 and bfloat16 models run in float32 and return float16
// where they declare it (ValueInfo.ModelDType). Outputs sized from data or broadcasting
// (Expand, Tile, ConstantOfShape, Range, OneHot, broadcast ops) are bounded before
// allocating. The conformance test in this package runs ONNX's own node tests for each op,
// and interop/47-graph-zoo9.sh compares models exported by torch and made with onnx.helper
// against onnxruntime. Float ops compute in float32 (element functions and reductions in
// float64), shape ops in int64/int32/bool.
// Conv, Gemm and MatMul use a packed, blocked, parallel SGEMM whose micro-kernel is AVX-512
// or AVX2/FMA assembly on amd64 CPUs that have it and portable Go elsewhere (or with -tags
// purego). A Conv with weights packed at load reads its input in place where it can: on large
// planes the kernel reads each im2col row as a shifted slice of the zero-padded input (split
// into phase planes for strides; conv_rows.go), elsewhere im2col writes B's packed panels a
// cache-sized chunk at a time (im2col_shift.go). A Conv followed by an Add and a Relu or Clip
// that alone read its output runs them on each tile of its output while it is in cache, when
// no hook watches the values between (fuse.go, Hooks.Watch); the hook is then passed nil for
// them. Every output element gets the same float32 operations in the same order whichever
// path computes it, so results do not depend on the path.
package graph
