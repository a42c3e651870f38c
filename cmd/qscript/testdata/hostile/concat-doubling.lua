-- exit: 1
-- stderr: concat-doubling.lua:5: stopped: the recipe needs
-- .. builds strings inside the VM, out of reach of any check: the watchdog stops the run.
local s = string.rep("x", 1024)
for i = 1, 60 do s = s .. s end
