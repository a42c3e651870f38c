// Package static is qscript's static quantization of ONNX models: from a float model
// and a calibration (package calib) it plans int8 weights and calibrated activation
// qparams for every Conv, Gemm and MatMul node, writes the model in ONNX Runtime's QDQ
// format (package formats/onnx/qdq) with a quantization record in metadata_props,
// fills the report with per-layer weight errors and per-activation ranges, and
// evaluates the quantized model against the float one (Evaluate).
//
// The usual flow:
//
//	f, _ := onnx.Open("model.onnx")
//	g, _ := static.LoadGraph(f)                         // names an unsupported op now
//	src, _ := data.NPY("calib.npy")
//	cal, _ := calib.Calibrate(ctx, g, src, calib.Options{})
//	q, _ := static.Quantize(ctx, f, cal, static.DefaultOptions())
//	_ = q.Save(ctx, "model.int8.onnx")
//	fmt.Print(q.Report())
//
// From package quantize's options instead (what the Lua qs.quantize does), Prepare
// checks them and runs the layer selection before the calibration, and
// Prepared.Quantize (or QuantizeModel, for a calibration already made) returns a Model
// whose Weights also save the compressed-tensors safetensors or .pt with each layer's
// input_scale; SaveWith adds metadata to the QDQ model without planning again.
package static
