-- Casts every floating-point tensor to fp16 (round to nearest even); integer tensors stay as they are.
--
--   qscript recipes/fp16.lua [model=PATH] [out=PATH] [skip=LIST] [format=safetensors|pt] [report=PATH]
--
-- Arguments:
--   model=   the checkpoint: .safetensors, .safetensors.index.json, .pt/.pth/.bin or .onnx
--            (default examples/models/digits_cnn.pt, relative to the repository root)
--   out=     the output file (default <model name>.fp16.safetensors, or .pt with format=pt, in the
--            current folder)
--   skip=    layers whose weights stay in their original dtype, comma-separated: names, globs and
--            first_conv, last_conv, first_linear, last_linear (default: none)
--   format=  safetensors or pt (default: from out's extension, else safetensors)
--   report=  also write the report as HTML or JSON
--
-- The values equal torch's tensor.half(). Norm layers, biases and other float tensors are cast
-- too (SPEC: a fp16 checkpoint holds no float32 tensor), so the report lists every layer.
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "skip", "format", "report" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local format = arg.format
local out = arg.out or (util.stem(model_path) .. ".fp16." .. (format == "pt" and "pt" or "safetensors"))

local q = qs.quantize(model, {
  weights = { dtype = "fp16" },
  skip = util.skip_list(model, arg.skip),
})

qs.save(q, out, { format = format })
local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
