// Package plan puts qscript's two kinds of planned quantization behind one interface: a
// weight-only plan (package quantize) and a static plan of an ONNX model (package static)
// are both a Plan, with layers, a scheme, warnings, a report and Save. Save is the one
// save path: it chooses the format from the path, refuses to replace the input once, and
// hands the plan to the writer that the table of output writers names for that format and
// that kind of plan (safetensors and .pt through quantize, QDQ ONNX through static, ONNX
// Runtime's weight-only forms through onnxquant). qs.save is a thin wrapper over it.
package plan
