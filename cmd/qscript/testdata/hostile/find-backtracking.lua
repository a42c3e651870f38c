-- exit: 1
-- flags: --timeout 1s
-- stderr: find-backtracking.lua:6: stopped: time limit exceeded (--timeout 1s)
-- Lua patterns backtrack: this takes longer than anyone will wait, and --timeout must stop it.
local s = string.rep("a", 60)
print(s:find(string.rep("a*", 30) .. "b"))
