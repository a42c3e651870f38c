-- exit: 1
-- flags: --timeout 300ms
-- stderr: loadstring-slow.lua:6: stopped: time limit exceeded (--timeout 300ms)
-- Compiling 8 MB of Lua takes seconds; --timeout must not wait for it.
local src = string.rep("local a = {1, 2, 3} + 4 * 5 - 6\n", 250000)
local f = loadstring(src)
