-- exit: 1
-- stderr: concat-doubling.lua:7: stopped: the recipe needs
-- max-rss: 1536M
-- .. builds strings inside the VM, out of reach of any check: the watchdog stops the run,
-- one or two doublings late (a single .. can double the heap).
local s = string.rep("x", 1024)
for i = 1, 60 do s = s .. s end
