// Package layer is qscript's one model of a layer and its one way of choosing layers, for
// state dicts and ONNX graphs alike.
//
// List finds the weight-bearing layers of a model: "<prefix>.weight" tensors of a state
// dict (typed by rank and name), or the Conv, Gemm and MatMul nodes of an ONNX graph
// (Quantizable, with the weight's output axis from WeightAxis); Nodes gives every such
// node as static quantization rewrites it. Select decides which layers a plan quantizes,
// from layer types (TypeMatches: "Conv" takes Conv1d/2d/3d, "Linear" takes Gemm and
// MatMul), exact names, globs (Matcher) and predicates. A name that matches nothing is an
// error naming the closest layers (suggest.Similar), never a silent no-op. quantize,
// static, onnxquant, llm, calib and the QDQ exporter all read layers here.
package layer
