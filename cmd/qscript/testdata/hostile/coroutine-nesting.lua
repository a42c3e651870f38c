-- exit: 1
-- stderr: coroutine-nesting.lua:6: coroutines nested too deeply: 200 resumed inside one another (the limit)
-- Each coroutine resumes a new one inside itself: before the limit, this grew the Go
-- stack and the heap without bound (11.8 GB), then killed the process.
local function f()
  local co = coroutine.wrap(f); co()
end
f()
