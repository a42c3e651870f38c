-- exit: 1
-- stderr: deep-return.lua: return value: tables nested deeper than 200 levels
-- A deep table handed back to Go: the converter used to recurse once per level (a
-- 3-million-deep table overflowed the Go stack).
local t = {}
local cur = t
for i = 1, 100000 do local n = {}; cur[1] = n; cur = n end
return t
