// Package graph runs ONNX graphs in pure Go, so that qscript can calibrate static quantization
// without ONNX Runtime. Load checks the whole graph up front (every op, attribute and dtype is
// either supported or named in an error), infers types and the shapes it can, and compiles each
// node into a kernel; Run then executes the nodes in topological order, calls hooks with every
// node's inputs and outputs, and drops each intermediate value after its last use.
//
// A *Graph is immutable after Load: Run may be called from several goroutines at once.
package graph
