// Package quant is qscript's quantization math: quantization parameters (scale and zero
// point) computed exactly as PyTorch's observers or ONNX Runtime's quantizer compute them,
// the observers that collect ranges as data streams by, the quantize, dequantize, cast and
// int4 packing kernels, and the error metrics of the report.
//
// A Scheme (QType, Symmetric, ReduceRange, Numerics) says how a range becomes qparams; a
// Granularity (per tensor, per channel on any axis, per group along the last dimension)
// says how many. ChooseQParams, Quantize, Dequantize, ChooseAndQuantize and
// ChooseAndPackInt4 work on tensors; the XxxTo kernels work on slices (QuantizeGroupsTo
// fuses a group's range, qparams and codes in one pass, for group-wise weights). Torch numerics
// (the default) match torch 1.13 bit for bit, ORT numerics match onnxruntime's
// compute_scale_zp and QuantizeLinear; testdata and interop/30-quant-ort.sh prove both.
//
// The observers (NewObserver makes them by name) stream: each keeps a fixed-size state
// whatever the number of batches, and widens it when later data widen the range.
//
//   - MinMax, MovingAverageMinMax and PerChannelMinMax are torch 1.13's observers of the
//     same names, bit for bit.
//   - Histogram is torch 1.13's HistogramObserver: a 2048-bin histogram merged by
//     upsampling, and the L2 non-linear search for the range.
//   - Percentile and Entropy are ONNX Runtime's percentile (99.999 of |x| by default) and
//     KL-divergence calibrators; MSE grid-searches shrunken ranges for the least expected
//     squared error. These three share a fixed 2048-bin histogram that doubles its bin
//     width when the data outgrow it (ORT appends bins instead), so they differ from ORT
//     only after a batch widens the range.
//
// NaN and ±Inf are refused wherever data is quantized or observed, with a
// *NonFiniteError (errors.Is(err, ErrNonFinite)) that callers wrap with the tensor name.
// Casts carry them through instead (the fp8 casts saturate ±Inf to their largest finite
// value).
//
// On amd64 with AVX2 (and F16C) the hot loops run in assembly (kernels_amd64.s); the
// pure-Go loops are the reference and run elsewhere or with -tags purego. Above 1 MB of
// input the kernels split disjoint rows, channels or groups across GOMAXPROCS workers.
package quant
