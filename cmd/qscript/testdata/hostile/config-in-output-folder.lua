-- exit: 0
-- stdout: config.json not written: 
-- stdout: out/config.json exists and was not written by qscript
-- out/ holds a config.json of the user's (no quantization_config): the save writes the
-- model beside it and leaves it alone, with a warning, instead of replacing it with the
-- input's config.json.
local qs = require "qs"
local q = qs.quantize(qs.load("src/model.safetensors"))
qs.save(q, "out/model.safetensors")
print(table.concat(q:warnings(), "\n"))
