-- exit: 1
-- stderr: concat-doubling.lua:6: the string built with .. needs 256 MiB, over the memory limit of 256 MiB
-- .. asks the memory budget before it joins 1 MiB or more (host/concat.go): the doubling is refused
-- before it allocates, not stopped by the watchdog after one huge join (which took GiBs and seconds).
local s = string.rep("x", 1024)
for i = 1, 60 do s = s .. s end
