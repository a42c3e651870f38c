-- exit: 1
-- stderr: save-through-symlink.lua:6: bad argument #2 to 'save' (refusing to write alias/model.safetensors: that is an input
-- alias is a symbolic link to this folder, so alias/model.safetensors is the input.
local qs = require "qs"
local q = qs.quantize(qs.load("model.safetensors"))
qs.save(q, "alias/model.safetensors")
