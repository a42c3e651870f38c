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
//	g, _ := graph.LoadONNX(f)                           // names an unsupported op now
//	src, _ := data.NPY("calib.npy")
//	cal, _ := calib.Calibrate(ctx, g, src, calib.Options{})
//	q, _ := static.PlanQDQ(ctx, f, cal, static.DefaultOptions())
//	_ = q.Save(ctx, "model.int8.onnx", nil)
//	fmt.Print(q.Report())
//
// Models are taken as exporters write them: weights computed by Constant subgraphs are
// folded into initializers (FoldWeights; qs.load does it too) and a model below opset 13 is
// upgraded for the export (package formats/onnx/upgrade), both checked in Prepare before
// calibration. Plan.Check measures the result on a few calibration samples (output SQNR,
// each node's own damage, warnings) and can keep the most damaging nodes in float (min_sqnr,
// max_drop); Inspect summarizes a model for `qscript inspect`.
//
// From package quantize's options instead (what the Lua qs.quantize does), Prepare
// checks them and runs the layer selection before the calibration, and Prepared.Plan
// returns a Plan whose Weights also save the compressed-tensors safetensors or .pt with
// each layer's input_scale; Save adds metadata to the QDQ model without planning again.
package static
