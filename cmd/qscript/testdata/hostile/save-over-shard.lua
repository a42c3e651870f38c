-- exit: 1
-- stderr: save-over-shard.lua:5: bad argument #2 to 'save' (refusing to write sharded/model-00002-of-00002.safetensors: that is an input
local qs = require "qs"
local q = qs.quantize(qs.load("sharded/model.safetensors.index.json"))
qs.save(q, "sharded/model-00002-of-00002.safetensors")
