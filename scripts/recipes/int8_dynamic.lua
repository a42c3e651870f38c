-- Quantizes Linear and Conv weights to int8, per channel and symmetric (weight-only, like torch's dynamic quantization).
--
--   qscript recipes/int8_dynamic.lua [model=PATH] [out=PATH] [skip=LIST] [layout=compressed|fake]
--                                    [format=safetensors|pt] [report=PATH.html|PATH.json]
--
-- Arguments:
--   model=   the checkpoint to quantize: .safetensors, .safetensors.index.json, .pt/.pth/.bin
--            or .onnx (default examples/models/digits_cnn.pt, relative to the repository root)
--   out=     the output file (default <model name>.int8.safetensors, or .pt with format=pt,
--            in the current folder)
--   skip=    layers left in float, comma-separated: names, globs (fc*, encoder.*.attn) and the
--            shortcuts first_conv, last_conv, first_linear, last_linear (default: none)
--   layout=  compressed (default): int8 codes + weight_scale, the compressed-tensors layout
--            that vLLM and transformers load; fake: dequantized float weights under the
--            original names, loadable with load_state_dict
--   format=  safetensors or pt (default: from out's extension, else safetensors)
--   report=  also write the report as HTML or JSON
--
-- Example:
--   qscript recipes/int8_dynamic.lua model=cnn.pt out=/tmp/cnn.int8.safetensors skip=first_conv
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "skip", "layout", "format", "report" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local format = arg.format
local out = arg.out or (util.stem(model_path) .. ".int8." .. (format == "pt" and "pt" or "safetensors"))

local q = qs.quantize(model, {
  weights = { dtype = "int8", per_channel = true, symmetric = true },
  layers = { "Linear", "Conv" },
  skip = util.skip_list(model, arg.skip),
})

qs.save(q, out, { layout = arg.layout, format = format })
local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
