-- exit: 1
-- stderr: tensor-shared-rows.lua:6: qs.tensor: a tensor of shape {100000, 10000} needs 14.9 GiB, over the memory limit
-- One row of 10000 numbers shared by 100000 entries: a small table that describes a
-- 7.5 GiB tensor.
local row = {} for i = 1, 10000 do row[i] = 0 end
local t = {} for i = 1, 100000 do t[i] = row end local x = require("qs").tensor(t)
