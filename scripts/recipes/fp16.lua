-- Casts every floating-point tensor to fp16 (round to nearest even); integer tensors stay as they are.
--
--   qscript recipes/fp16.lua [model=PATH] [out=PATH] [skip=LIST] [format=safetensors|pt|onnx]
--                      [keep_io_types=true] [report=PATH]
--
-- Arguments:
--   model=   the checkpoint: .safetensors, .safetensors.index.json, .pt/.pth/.bin or .onnx
--            (default examples/models/digits_cnn.pt, relative to the repository root); a .gguf
--            is refused: recipes/gguf.lua converts GGUF
--   out=     the output file (default <model name>.fp16.onnx for an .onnx model, else
--            <model name>.fp16.safetensors, or .pt with format=pt, in the current folder)
--   skip=    layers whose weights stay in their original dtype, comma-separated: names, globs, re:
--            expressions and first_conv, last_conv, first_linear, last_linear (default: none)
--   format=  safetensors, pt or onnx (default: from out's extension, else onnx for an .onnx
--            model, else safetensors)
--   keep_io_types=  ONNX output: float32 graph inputs and outputs with Casts at the
--            boundaries (default true); false makes them fp16
--   report=  also write the report as HTML or JSON
--
-- An .onnx model gives an .onnx model converted as ONNX Runtime's float16 converter
-- (onnxruntime.transformers.float16) converts it: every float tensor and the computation in
-- fp16, the ops it blocks (TopK, Range, Resize scales, ...) and skipped layers in float32
-- behind Casts. See docs/onnx-output.md.
--
-- The values equal torch's tensor.half(). Norm layers, biases and other float tensors are cast
-- too (SPEC: a fp16 checkpoint holds no float32 tensor), so the report lists every layer.
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "skip", "format", "keep_io_types", "report" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local format = arg.format
local out = util.output(model_path, arg.out, format, ".fp16")

local q = qs.quantize(model, {
  weights = { dtype = "fp16" },
  skip = util.skip_list(model, arg.skip),
})

local save_opts = { format = format }
if util.is_onnx(out, format) then
  save_opts.onnx = { keep_io_types = util.bool(arg.keep_io_types, true, "keep_io_types") }
elseif arg.keep_io_types ~= nil then
  qs.usage_error("argument keep_io_types applies to .onnx outputs")
end
qs.save(q, out, save_opts)
local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
