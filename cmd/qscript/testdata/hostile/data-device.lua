-- exit: 1
-- stderr: zero.npy: not a regular file (a device)
-- zero.npy is a symbolic link to /dev/zero: a data source that never ends (eval=zero.npy
-- used to read forever).
local d = require("qs").data.npy("zero.npy")
