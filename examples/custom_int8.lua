-- A custom int8 recipe: recipe-level defaults with qs.config, a skip predicate, a
-- compressed-tensors output with metadata, and an HTML report.
--
--   qscript examples/custom_int8.lua [model=...] [out=digits_cnn.custom.int8.safetensors] [report=report.html]
local qs = require "qs"

qs.config{ weights = { dtype = "int8", per_channel = true, symmetric = true }, numerics = "torch" }

local model = qs.load(arg.model or "examples/models/digits_cnn.pt")
local first_conv = model:layers("Conv")[1]

local q = qs.quantize(model, {
  skip = {
    first_conv.name,                                   -- the input layer is the most sensitive
    function(layer) return layer.shape[1] < 16 end,    -- tiny heads gain nothing
  },
})

-- Saving first reads the model once: the save measures the report on the way.
local out = arg.out or "digits_cnn.custom.int8.safetensors"
qs.save(q, out, { metadata = { recipe = "examples/custom_int8.lua", skipped = first_conv.name } })

local report = q:report()
print(report)
for _, l in ipairs(report.layers) do
  if l.quantized and l.sqnr_db < 35 then
    print(("warning: %s has a low SQNR (%.1f dB)"):format(l.name, l.sqnr_db))
  end
end
if arg.report then report:html(arg.report) end
print("wrote " .. out)
return { output = out, quantized = report.totals.quantized }
