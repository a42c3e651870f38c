package qdq

// Names ONNX Runtime's QDQ quantizer gives the tensors and nodes it adds (quant_utils.py
// add_quant_suffix & co., qdq_quantizer.py, base_quantizer.py). Following them lets
// tools written for ORT's output recognise ours.
func quantizedName(w string) string   { return w + "_quantized" }      // int8 weight, int32 bias
func scaleName(t string) string       { return t + "_scale" }          // W_scale, T_scale, B_quantized_scale
func zeroPointName(t string) string   { return t + "_zero_point" }     // W_zero_point, T_zero_point, B_quantized_zero_point
func quantNodeName(t string) string   { return t + "_QuantizeLinear" } // Q node of an activation
func quantOutput(t string) string     { return t + "_QuantizeLinear_Output" }
func dequantNodeName(t string) string { return t + "_DequantizeLinear" } // DQ node of weights, biases, activations
func dequantOutput(t string) string   { return t + "_DequantizeLinear_Output" }
