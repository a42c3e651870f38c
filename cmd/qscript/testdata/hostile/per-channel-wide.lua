-- exit: 1
-- stderr: per-channel-wide.lua:6: t:quantize: 68719476736 sets of qparams needs 2 TiB, over the memory limit
-- An 88-byte safetensors with a [0, 2^36] tensor, quantized per channel on axis 1.
local qs = require "qs"
local w = qs.load("zero-wide.safetensors"):get("w")
local q = w:quantize{dtype = "int8", per_channel = true, axis = 1}
