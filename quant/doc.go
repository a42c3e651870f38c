// Package quant is qscript's quantization math: quantization parameters (scale and zero
// point) computed exactly as PyTorch's observers or ONNX Runtime's quantizer compute them,
// the observers that collect ranges as data streams by, the quantize, dequantize and
// packing kernels, and the error metrics of the report.
package quant
