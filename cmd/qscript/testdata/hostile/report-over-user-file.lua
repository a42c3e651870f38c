-- exit: 1
-- stderr: notes.json exists and was not written by qscript; move it away or choose another path
local qs = require "qs"
local q = qs.quantize(qs.load("model.safetensors"))
q:report():json("notes.json")
