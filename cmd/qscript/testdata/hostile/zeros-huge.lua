-- exit: 1
-- stderr: zeros-huge.lua:4: qs.zeros: a tensor of shape {1048576, 1048576} needs 12 TiB, over the memory limit
local qs = require "qs"
local t = qs.zeros({1048576, 1048576})
