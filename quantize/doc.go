// Package quantize is qscript's model-level weight quantization: it finds the layers of
// a checkpoint (state dict or ONNX model), selects the ones to quantize (by type, exact
// name, glob or predicate, with errors that suggest the closest names for typos), plans
// the work without reading tensor data, and then streams the model tensor by tensor into
// a safetensors or PyTorch file in the compressed-tensors layout (or the "fake",
// dequantized layout), filling a report.Report on the way.
//
// The usual flow:
//
//	m, _ := formats.Open("model.safetensors")
//	defer m.Close()
//	opts := quantize.DefaultOptions()
//	opts.Skip = quantize.Names("conv1")
//	q, err := quantize.Quantize(ctx, m, opts)      // plans; reads no tensor data
//	rep, err := q.Report(ctx)                      // one streaming pass, cached
//	err = q.Save(ctx, "out.safetensors", quantize.SaveOptions{})
//
// The source model is never modified and is read, never written. Peak memory is a small
// multiple of the largest tensor: each tensor is read into a reused buffer, quantized,
// written and dropped before the next one.
package quantize

// Version is the qscript version written into the "quantization" metadata record. The
// CLI sets it at start-up from its own version; embedders may set it to theirs.
var Version = "dev"
