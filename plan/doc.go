// Package plan puts qscript's planned quantizations behind one interface: a weight-only
// plan (package quantize), a static plan of an ONNX model (static), a compressed-tensors
// folder (llm) and a GGUF file (convert/llamagguf) are each a Plan, with layers, a
// per-layer scheme map, warnings, a report and Save. Save is the one save path: it
// chooses the format, runs the output refusal of the writer that the table of output
// writers names for that format and that kind of plan, then that writer (safetensors and
// .pt through quantize, QDQ ONNX through static, ONNX Runtime's weight-only forms through
// onnxquant, folders through llm, GGUF through llamagguf).
package plan
