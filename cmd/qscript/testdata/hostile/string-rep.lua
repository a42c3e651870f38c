-- exit: 1
-- stderr: string-rep.lua:3: string.rep: the string needs 1 TiB, over the memory limit of 256 MiB
local s = string.rep("x", 2^40)
