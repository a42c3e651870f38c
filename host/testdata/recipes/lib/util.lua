local helpers = require "helpers"
local M = {}
function M.sum(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s
end
M.twice = helpers.twice
return M
