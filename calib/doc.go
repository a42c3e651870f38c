// Package calib calibrates static quantization: it runs an ONNX graph (package graph)
// over calibration data (package data) and feeds the activations that will be
// quantized (the float inputs of Conv, Gemm and MatMul nodes) to observers, which turn
// their ranges into scales and zero points.
//
// Batches run through the graph in parallel on all cores, while a single consumer feeds
// the observers in sample order, so the result never depends on scheduling or on the
// number of workers. Memory is bounded by the batches in flight (one per worker, plus
// one queued) and the observers, never by the number of samples. A Result is immutable
// and can be cached (see Key) so that reruns that change only the skip list or the
// export options do not calibrate again.
//
// Bind checks a data source against a model's inputs before any work (names, batch axes,
// shapes, dtypes) and turns its batches into the tensors the model is fed: for
// calibration here, and for static's evaluation and onnxquant's GPTQ samples.
package calib
