-- exit: 1
-- stderr: broadcast-calibration.lua:7: calib: graph: node "blowup" (Add): an intermediate value needs 4 GiB, over the memory limit
-- A tiny ONNX whose Add broadcasts [1, 32768, 1] + [1, 1, 32768] to 4 GiB per sample:
-- calibration with several workers asked for 16 GiB.
local qs = require "qs"
local m = qs.load("broadcast.onnx")
local q = qs.quantize(m, {activations = {calibrate = qs.zeros({4, 1, 32768, 1})}})
