-- exit: 1
-- stderr: format-amplify.lua:4: string.format: the string needs 93.2 GiB, over the memory limit
-- 900 KB of format asking for 100000 fields a million wide.
local s = string.format(string.rep("%999999d", 100000), 1)
