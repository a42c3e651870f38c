-- exit: 1
-- stderr: call-depth.lua:4: stack overflow
-- Unbounded recursion ends at the Lua call-depth limit, not in the Go runtime.
local function f() return 1 + f() end
print(f())
