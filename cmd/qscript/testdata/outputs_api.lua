-- TestOutputsUnchanged: what the built-in recipes do not reach. ONNX Runtime's numerics in a
-- weight-only save (asymmetric per channel) and a static QDQ save (asymmetric activations);
-- qs.save's config= and metadata; a GGUF file requantized; qs.report.diff; a loaded model
-- saved unchanged.
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

local llama = qs.load("llama/model.safetensors.index.json")
local q = qs.quantize(llama, { weights = { dtype = "int8", per_channel = true } })
qs.save(q, "o/llama.int8.safetensors", { config = "llama/config.json", metadata = { note = "golden" } })
local fp16 = qs.quantize(cnn, { weights = { dtype = "fp16" } })
qs.save(fp16, "o/fp16.pt", { format = "pt" })
qs.save(cnn, "o/unchanged.safetensors")

print(qs.gguf.convert("llama", "o/f16.gguf", { type = "F16" }))
print(qs.gguf.convert("o/f16.gguf", "o/q4_0.gguf", { type = "Q4_0" }))

local r8 = qs.quantize(cnn, { weights = { dtype = "int8", per_channel = true } }):report()
local r4 = qs.quantize(cnn, { weights = { dtype = "int4", group_size = 32 } }):report()
r4:json("o/r4.json")
print(qs.report.diff(r8, qs.report.read("o/r4.json")))

-- Image folders as calibration data (decoding, resizing, normalization).
local cnn_onnx = qs.load("examples/models/digits_cnn.onnx")
local imgs = qs.data.images("images", { size = 8, gray = true, mean = 0.5, std = 0.25 })
local si = qs.quantize(cnn_onnx, { activations = { calibrate = imgs, observer = "minmax" } })
qs.save(si, "o/images.onnx")
print(si:report())
