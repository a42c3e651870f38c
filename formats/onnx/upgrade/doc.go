// Package upgrade rewrites an ONNX model of an older default-domain opset (7 to 12) into
// opset 13, the lowest opset a QDQ model with per-channel DequantizeLinear can use.
//
// Only the ops whose signature changed between the model's opset and 13 are adapted,
// following the ONNX version converter's adapters (onnx/version_converter/convert.h):
// attributes that became inputs (Squeeze, Unsqueeze and ReduceSum axes, Split's split,
// Slice's starts/ends/axes, TopK's k, Clip's min/max, Pad's pads/value, Dropout's ratio)
// are written as int64 or float initializers; BatchNormalization loses its spatial
// attribute (refused when it is 0); Upsample becomes Resize and Resize-10 gets an empty
// roi input with the opset-10 coordinate mapping spelled out (asymmetric, nearest mode
// floor); Scatter becomes ScatterElements; Softmax, LogSoftmax and Hardmax on an axis that
// is not the last become Flatten → op → Reshape, as their opset-13 form normalizes a single
// axis. Every other op of the default domain is unchanged, and nodes of other domains are
// left alone. Subgraphs (If, Loop, Scan bodies) are upgraded as well.
//
// Check finds every node that cannot be upgraded, without building the new model, so that a
// caller refuses a model before any slow work.
package upgrade
