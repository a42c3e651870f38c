-- GPTQ on a state dict through its ONNX export (interop/97-gptq-statedict.sh):
--   qscript interop/gptqsd/gptq.lua model=M.safetensors graph=M.onnx calib=X.npy out=Q.safetensors
--           dtype=int4|int8 group_size=16 symmetric=true samples=64 act_order=false block_size=8
--           method=gptq|rtn
local qs = require "qs"

local m = qs.load(arg.model)
local weights = { dtype = arg.dtype, symmetric = arg.symmetric }
if arg.dtype == "int4" then
  weights.group_size = arg.group_size
else
  weights.per_channel = true
end
local opts = { weights = weights, layers = { "Linear" } }
if arg.method == "gptq" then
  opts.method = "gptq"
  opts.graph = arg.graph
  opts.calib = qs.data.npy(arg.calib)
  opts.samples = arg.samples
  opts.act_order = arg.act_order
  opts.block_size = arg.block_size
end
local q = qs.quantize(m, opts)
qs.save(q, arg.out)
for _, w in ipairs(q:warnings()) do print("warning: " .. w) end
