-- exit: 1
-- stderr: concat-doubling.lua:7: stopped: the recipe needs
-- max-rss: 3072M
-- .. builds strings in the VM, out of reach of any check: the watchdog stops the run a doubling or
-- two late, one more when load delays its 10 ms tick (1.8 GiB seen); 3 GiB is under the 4 GiB ulimit.
local s = string.rep("x", 1024)
for i = 1, 60 do s = s .. s end
