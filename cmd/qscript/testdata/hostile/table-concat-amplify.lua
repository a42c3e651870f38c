-- exit: 1
-- stderr: table-concat-amplify.lua:5: table.concat: the string needs 9.8 GiB, over the memory limit
local mb = string.rep("x", 2^20)
local t = {} for i = 1, 10000 do t[i] = mb end
local s = table.concat(t)
