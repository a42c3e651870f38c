-- exit: 0
-- stdout: gone
-- .out.safetensors.tmp-qs<pid>-1 was left by a process that died mid-save (the test
-- names a pid that has exited); the next save in this folder removes it.
local qs = require "qs"
qs.save(qs.quantize(qs.load("model.safetensors")), "out.safetensors")
print("gone")
