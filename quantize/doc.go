// Package quantize is qscript's model-level weight quantization: it takes the layers of
// a checkpoint (state dict or ONNX model) that package layer lists and selects, plans
// the work without reading tensor data, and then streams the model tensor by tensor into
// a safetensors or PyTorch file in the compressed-tensors layout (or the "fake",
// dequantized layout), filling a report.Report on the way. Package plan puts a
// WeightPlan behind the Plan that qs.save saves (plan.Save also refuses to replace the
// input model; WeightPlan.Save, its safetensors and .pt writer, does not check paths).
//
// The usual flow:
//
//	m, _ := formats.Open("model.safetensors")
//	defer m.Close()
//	opts := quantize.DefaultOptions()
//	opts.Skip = layer.Names("conv1")
//	q, err := quantize.PlanWeights(ctx, m, opts)   // plans; reads no tensor data
//	err = q.Save(ctx, "out.safetensors", quantize.SaveOptions{}) // measures the report too
//	rep, err := q.Report(ctx)                      // after Save: reads nothing; before: one pass
//	err = rep.SaveHTML("report.html")              // counts the deferred weight histograms
//
// Layouts written by Save (compressed, the default; L is a layer's weight name, such as
// "fc1.weight"; scales are F32, or the weight's dtype for f16/bf16 weights):
//
//	int8/uint8  L I8 (weight shape), L_scale [out,1] ([out,1,1,1] for Conv2d; [1] per
//	            tensor; [out,groups] per group), L_zero_point I8 like L_scale (affine)
//	int4/uint4  L_packed I32 [out, ceil(in/8)] (eight codes + 8 per word, element 8j+k at
//	            bits 4k), L_scale [out, groups], L_shape I64 [rank], L_zero_point I32
//	            [ceil(out/8), groups] packed along out (affine)
//	fp8         L F8_E4M3 or F8_E5M2, L_scale [out,1,...] or [1]
//	fp16/bf16   every floating tensor cast, same names
//	static      <layer>.input_scale [1], <layer>.input_zero_point I8 [1] (affine)
//
// uint8/uint4 are stored as signed codes and zero points shifted by 128/8, since
// compressed-tensors has no unsigned types. The fake layout writes the dequantized
// weights under their own names and dtypes instead.
//
// The source model is never modified and is read, never written. Peak memory is a small
// multiple of the largest tensor: each tensor is read into a reused buffer, quantized,
// written and dropped before the next one.
package quantize
