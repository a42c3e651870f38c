-- TestOutputsUnchanged: ONNX Runtime's numerics, which no built-in recipe chooses, in a
-- weight-only save (asymmetric per channel) and a static QDQ save (asymmetric activations).
local qs = require "qs"

local cnn = qs.load("examples/models/digits_cnn.pt")
local w = qs.quantize(cnn, { weights = { dtype = "uint8", per_channel = true, symmetric = false }, numerics = "onnxruntime" })
qs.save(w, "o/weights.safetensors")
print(w:report())

local enc = qs.load("examples/models/encoder_block_op13.onnx")
local s = qs.quantize(enc, {
  weights = { dtype = "int8", per_channel = true, symmetric = true },
  activations = { calibrate = qs.data.npy("examples/models/encoder_calib.npy"), samples = 16, observer = "minmax", dtype = "uint8" },
  numerics = "onnxruntime",
})
qs.save(s, "o/static.onnx")
print(s:report())
