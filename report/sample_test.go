package report

import "math"

// sampleReport is shaped like the report of int8_static.lua on the digits CNN: six
// layers, two kept in float, activations and an evaluation. Its numbers are typed in, not
// computed: these tests check the renderings, not the metrics.
func sampleReport() *Report {
	floatAcc, quantAcc := 0.9778, 0.975
	r := &Report{
		Title:  "int8_static: digits_cnn.onnx",
		Input:  "examples/models/digits_cnn.onnx",
		Output: "/tmp/cnn.int8.onnx",
		Scheme: "int8 per-channel symmetric weights, uint8 affine activations (torch numerics)",
		Layers: []Layer{
			{Name: "conv1", Type: "Conv2d", Shape: []int{16, 1, 3, 3}, DType: "F32",
				Reason: "first_conv", BytesBefore: 640, BytesAfter: 640,
				Histogram: &Histogram{Min: -0.61, Max: 0.72, Counts: []int64{1, 3, 9, 20, 40, 38, 21, 8, 3, 1}}},
			{Name: "bn1", Type: "BatchNorm2d", Shape: []int{16}, DType: "F32",
				Reason: "1-D tensor", BytesBefore: 256, BytesAfter: 256},
			{Name: "conv2", Type: "Conv2d", Shape: []int{32, 16, 3, 3}, DType: "F32", QDType: "int8",
				Granularity: "per_channel(axis=0)", Quantized: true,
				ScaleMin: 0.001893, ScaleMax: 0.004127, SQNR: 41.27, MSE: 1.183e-6, MaxAbsErr: 0.002063, Cosine: 0.9999627,
				BytesBefore: 18560, BytesAfter: 4864,
				Histogram: &Histogram{Min: -0.52, Max: 0.48, Counts: []int64{2, 10, 60, 400, 1900, 1800, 380, 50, 6, 0}}},
			{Name: "conv3", Type: "Conv2d", Shape: []int{32, 32, 3, 3}, DType: "F32", QDType: "int8",
				Granularity: "per_channel(axis=0)", Quantized: true,
				ScaleMin: 0.001552, ScaleMax: 0.003301, SQNR: 40.88, MSE: 8.02e-7, MaxAbsErr: 0.00165, Cosine: 0.99995917,
				BytesBefore: 36992, BytesAfter: 9472},
			{Name: "fc1", Type: "Linear", Shape: []int{64, 512}, DType: "F32", QDType: "int8",
				Granularity: "per_channel(axis=0)", Quantized: true,
				ScaleMin: 0.0008121, ScaleMax: 0.001706, SQNR: 29.95, MSE: 1.04e-7, MaxAbsErr: 0.000853, Cosine: 0.99949,
				BytesBefore: 131328, BytesAfter: 33280},
			{Name: "fc2", Type: "Linear", Shape: []int{10, 64}, DType: "F32", QDType: "int8",
				Granularity: "per_channel(axis=0)", Quantized: true,
				ScaleMin: 0.002237, ScaleMax: 0.003894, SQNR: math.Inf(1), MSE: 0, MaxAbsErr: 0, Cosine: 1,
				BytesBefore: 2600, BytesAfter: 720},
		},
		Activations: []Activation{
			{Name: "input", Observer: "minmax", Min: 0, Max: 1, Scale: 0.003921569, ZeroPoint: 0, QDType: "uint8",
				Histogram: &Histogram{Min: 0, Max: 1, Counts: []int64{5000, 300, 200, 250, 2000}}},
			{Name: "/relu/Relu_output_0", Observer: "minmax", Min: 0, Max: 4.213, Scale: 0.01652, ZeroPoint: 0, QDType: "uint8"},
			{Name: "logits", Observer: "minmax", Min: -21.5, Max: 32.4, Scale: 0.2114, ZeroPoint: 102, QDType: "uint8"},
		},
		OtherBytes: 8,
		Eval:       &Eval{Samples: 360, OutputSQNR: 31.42, Top1Agreement: 0.99722, FloatAccuracy: &floatAcc, QuantAccuracy: &quantAcc},
		Warnings:   []string{"calibration used 150 samples"},
	}
	r.Finish()
	return r
}
