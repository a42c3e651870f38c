-- exit: 0
-- stdout: 2000000
-- gsub used to rebuild the whole string for every match (10^12 byte copies here).
local s = string.rep("a", 1e6)
print(#s:gsub("a", "bb"))
