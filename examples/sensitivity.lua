-- Layer sensitivity for static int8: quantizes one layer at a time, measures the model's
-- output SQNR and accuracy on held-out data, and ranks the layers. The calibration runs
-- once and is reused from the host's cache for every plan (and across watch-mode reruns).
--
--   qscript examples/sensitivity.lua [model=...onnx] [calib=...npy] [eval=...npz] [samples=100]
local qs = require "qs"

local model = qs.load(arg.model or "examples/models/digits_cnn.onnx")
local calib = qs.data.npy(arg.calib or "examples/models/calib.npy")
local test = qs.data.npz(arg.eval or "examples/models/test.npz")
local samples = arg.samples or 100

local cal = qs.calibrate(model, calib, { samples = 150, observer = "histogram" })
print(cal)

local rows = {}
for _, layer in ipairs(model:layers()) do
  local q = qs.quantize(model, {
    activations = { calibrate = cal },
    include = { layer.name },
  })
  local e = q:evaluate(test, { samples = samples })
  rows[#rows + 1] = { name = layer.name, sqnr = e.output_sqnr_db, acc = e.quant_accuracy or 0 }
end
table.sort(rows, function(a, b) return a.sqnr < b.sqnr end)

print(("%-14s %14s %10s"):format("layer alone", "output SQNR", "accuracy"))
for _, r in ipairs(rows) do
  print(("%-14s %11.2f dB %9.2f%%"):format(r.name, r.sqnr, 100 * r.acc))
end
print("most sensitive: " .. rows[1].name .. " (a candidate for skip)")

return { most_sensitive = rows[1].name }
