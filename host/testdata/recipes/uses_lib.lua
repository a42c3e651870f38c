-- Requires a module from its own folder, which requires a sibling, and a library module.
local util = require "lib.util"
require "strict"
return { sum = util.sum({ 1, 2, 3 }), twice = util.twice(21) }
