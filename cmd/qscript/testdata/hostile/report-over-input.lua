-- exit: 1
-- stderr: report-over-input.lua:5: bad argument #2 to 'html' (refusing to write model.safetensors: that is an input
local qs = require "qs"
local q = qs.quantize(qs.load("model.safetensors"))
q:report():html("model.safetensors")
