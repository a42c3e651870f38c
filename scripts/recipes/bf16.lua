-- Casts every floating-point tensor to bf16 (round to nearest even); integer tensors stay as they are.
--
--   qscript recipes/bf16.lua [model=PATH] [out=PATH] [skip=LIST] [format=safetensors|pt|onnx]
--                      [keep_io_types=true] [bf16_compute=false] [report=PATH]
--
-- Arguments:
--   model=   the checkpoint: .safetensors, .safetensors.index.json, .pt/.pth/.bin or .onnx
--            (default examples/models/digits_cnn.pt, relative to the repository root); a .gguf
--            is refused: recipes/gguf.lua converts GGUF
--   out=     the output file (default <model name>.bf16.onnx for an .onnx model, else
--            <model name>.bf16.safetensors, or .pt with format=pt, in the current folder)
--   skip=    layers whose weights stay in their original dtype, comma-separated: names, globs, re:
--            expressions and first_conv, last_conv, first_linear, last_linear (default: none)
--   format=  safetensors, pt or onnx (default: from out's extension, else onnx for an .onnx
--            model, else safetensors)
--   keep_io_types=  ONNX output: float32 graph inputs and outputs with Casts at the
--            boundaries (default true); false makes them bf16
--   bf16_compute=  ONNX output: convert the computation to bf16 too (default false: bf16
--            weights behind Casts, float32 computation, which ONNX Runtime's CPU provider runs)
--   report=  also write the report as HTML or JSON
--
-- An .onnx model gives an .onnx model converted as ONNX Runtime's float16 converter does,
-- with bfloat16 in place of float16 (see docs/onnx-output.md for where it runs).
--
-- The values equal torch's tensor.bfloat16(). Norm layers, biases and other float tensors are cast
-- too (SPEC: a bf16 checkpoint holds no float32 tensor), so the report lists every layer.
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "skip", "format", "keep_io_types", "bf16_compute", "report" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local format = arg.format
local out = util.output(model_path, arg.out, format, ".bf16")

local q = qs.quantize(model, {
  weights = { dtype = "bf16" },
  skip = util.skip_list(model, arg.skip),
})

local save_opts = { format = format }
if util.is_onnx(out, format) then
  save_opts.onnx = { keep_io_types = util.bool(arg.keep_io_types, true, "keep_io_types"),
    bf16_compute = util.bool(arg.bf16_compute, false, "bf16_compute") }
elseif arg.keep_io_types ~= nil or arg.bf16_compute ~= nil then
  qs.usage_error("arguments keep_io_types and bf16_compute apply to .onnx outputs")
end
qs.save(q, out, save_opts)
local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
