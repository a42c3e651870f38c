-- Prints a greeting: the smallest recipe, showing how key=value arguments arrive in `arg`.
--
--   qscript recipes/hello.lua name=Ada times=2 shout=true
require("recipeutil").check_args(arg, { "name", "times", "shout" }) -- a typo is an error, never ignored

local name = arg.name or "world"
local times = arg.times or 1
if type(times) ~= "number" or times < 1 then
  require("qs").usage_error(("times must be a positive number, got %s"):format(tostring(arg.times)))
end

local greeting = ("hello, %s!"):format(name)
if arg.shout then
  greeting = greeting:upper()
end
for _ = 1, times do
  print(greeting)
end

return { greeting = greeting, name = name, times = times }
