-- exit: 1
-- stderr: pipe.safetensors: not a regular file (a named pipe)
-- pipe.safetensors is a FIFO that no one writes: opening it for reading used to block
-- forever, even for `qscript inspect`.
local m = require("qs").load("pipe.safetensors")
