// Package onnxquant rewrites a float ONNX model into the ONNX model a weight-only recipe
// asks for, in the forms ONNX Runtime's own tools write: fp16 (or bf16 weights) as
// onnxruntime.transformers.float16 converts a model, int8 weights with activations
// quantized at run time as onnxruntime.quantization.quantize_dynamic writes them
// (DynamicQuantizeLinear, MatMulInteger/ConvInteger, scale Mul), and 4-bit block-wise
// MatMul weights as com.microsoft.MatMulNBits (or DequantizeLinear int4, opset 21), packed
// byte for byte as ONNX Runtime's MLAS block quantizer packs them. The MatMul weights of the
// int4 and int8 forms can take GPTQ codes instead of round to nearest, from Hessians of
// the MatMul inputs collected by running graph/ on calibration data.
//
// Rewrite takes the opened model and the recipe's quantize.Options and returns the new
// ModelProto and a report; the caller writes it with onnx.Write.
package onnxquant
