-- strict: makes reading a global that was never assigned an error, to catch typos early.
--
--   require "strict"
--   local model = qs.load(arg.model)
--   print(modle)   --> recipe.lua:3: undeclared global 'modle'
--
-- Assigning a global declares it. To test whether an optional global exists, use
-- rawget(_G, "name").
local mt = getmetatable(_G)
if mt == nil then
  mt = {}
  setmetatable(_G, mt)
end

mt.__index = function(_, name)
  error(("undeclared global '%s'"):format(tostring(name)), 2)
end

return true
