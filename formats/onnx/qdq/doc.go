// Package qdq turns a float ONNX model into ONNX Runtime's QDQ format: int8 weights and
// int32 biases stored as initializers behind DequantizeLinear nodes, and activations passed
// through QuantizeLinear → DequantizeLinear pairs, with tensor and node names as ONNX
// Runtime's quantizer (onnxruntime/python/tools/quantization, qdq_quantizer.py) writes them.
// The caller decides everything numeric (scales, zero points, optionally the weight codes)
// in a Plan; Export only rewrites the graph and quantizes with QuantizeLinear semantics.
package qdq
