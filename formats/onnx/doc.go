// Package onnx reads and writes ONNX model files (.onnx): the ModelProto itself, its
// initializers (raw_data, the typed data fields, and external data files), opset imports
// and metadata. A *File also serves the initializers through the common read-only model
// view (formats.Model), so weight-only recipes can load an ONNX model like a checkpoint.
// Small graph walks shared by the packages that rewrite graphs live here too: Nodes (every
// node, subgraphs included), InitializerAliases (Identity outputs that stand for an
// initializer), HasSubgraph and MarkReads.
//
// Every byte read is treated as hostile: the file size is capped, dims and element counts
// are overflow-checked, data lengths must match numel × element size, and external data
// must stay inside the model's folder and inside the data file.
package onnx
