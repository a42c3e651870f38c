-- A broken greeting: string.rep is called without its count, to show that errors point at
-- the recipe's file and line and name the failing function.
local name = arg.name or "world"
print("greeting " .. name)
print(string.rep("hello, " .. name .. "! "))
