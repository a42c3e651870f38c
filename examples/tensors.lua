-- A tour of tensors, observers and per-layer error on the example CNN's weights.
--
--   qscript examples/tensors.lua [model=examples/models/digits_cnn.pt]
local qs = require "qs"

local model = qs.load(arg.model or "examples/models/digits_cnn.pt")
local w = model:get("fc1.weight")
print(w, ("min %.4f  max %.4f  std %.4f"):format(w:min(), w:max(), w:std()))

-- The same weight in several schemes; SQNR against the float weight.
local schemes = {
  { "int8 per tensor", w:quantize{ dtype = "int8" } },
  { "int8 per channel", w:quantize{ dtype = "int8", per_channel = true } },
  { "uint8 affine per channel", w:quantize{ dtype = "uint8", per_channel = true } },
  { "int4 group 128", w:quantize{ dtype = "int4", group_size = 128 } },
  { "int4 group 32", w:quantize{ dtype = "int4", group_size = 32 } },
  { "fp16", w:to("fp16") },
  { "bf16", w:to("bf16") },
}
for _, s in ipairs(schemes) do
  print(("%-26s SQNR %6.2f dB  cosine %.6f"):format(s[1], qs.sqnr(w, s[2]), qs.cosine(w, s[2])))
end

-- Observers see data batch by batch; here, the rows of the weight.
local hist = qs.observer.histogram{ dtype = "int8", symmetric = true }
local minmax = qs.observer.minmax{ dtype = "int8", symmetric = true }
for i = 1, #w do
  hist:observe(w[i])
  minmax:observe(w[i])
end
print(("minmax    scale %.6g  range [%.4f, %.4f]"):format(minmax:qparams().scale, minmax:range()))
print(("histogram scale %.6g (torch's L2 range search: narrower than minmax when the tails are sparse)"):format(hist:qparams().scale))

return { sqnr_int8_per_channel = qs.sqnr(w, schemes[2][2]) }
