-- exit: 1
-- stderr: deep-option.lua:9: option table: tables nested deeper than 200 levels
-- The same as an option of a qs function.
local qs = require "qs"
local m = qs.load("model.safetensors")
local t = {}
local cur = t
for i = 1, 100000 do local n = {}; cur[1] = n; cur = n end
qs.quantize(m, { weights = { dtype = "int8" }, skip = t })
