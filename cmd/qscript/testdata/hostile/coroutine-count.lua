-- exit: 1
-- stderr: coroutine-count.lua:5: too many coroutines: 10000 are alive at once (the limit)
local keep = {}
for i = 1, 1e6 do
  keep[i] = coroutine.create(function() end)
end
