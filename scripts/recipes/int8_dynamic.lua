-- Quantizes Linear and Conv weights to int8, per channel and symmetric (weight-only, like torch's dynamic quantization).
--
--   qscript recipes/int8_dynamic.lua [model=PATH] [out=PATH] [skip=LIST] [include=LIST]
--                                    [layout=compressed|fake]
--                                    [format=safetensors|pt|onnx] [per_channel=true]
--                                    [reduce_range=false] [method=rtn|gptq] [calib=PATH]
--                                    [samples=128] [heldout=0] [percdamp=0.01] [act_order=false]
--                                    [report=PATH.html|PATH.json]
--
-- Arguments:
--   model=   the checkpoint to quantize: .safetensors, .safetensors.index.json, .pt/.pth/.bin
--            or .onnx (default examples/models/digits_cnn.pt, relative to the repository root);
--            a .gguf is refused: recipes/gguf.lua requantizes GGUF for llama.cpp
--   out=     the output file (default <model name>.int8.onnx for an .onnx model, else
--            <model name>.int8.safetensors, or .pt with format=pt, in the current folder)
--   skip=    layers left in float, comma-separated: names, globs (fc*, encoder.*.attn), re:
--            expressions and the shortcuts first_conv, last_conv, first_linear, last_linear
--            (default: none)
--   include= only these layers are quantized, like skip= (default: every Linear and Conv); a
--            Hugging Face causal LM's lm_head (config.json beside the model) stays in float
--            unless include= names it
--   layout=  compressed (default): int8 codes + weight_scale, the compressed-tensors layout
--            that vLLM and transformers load (its quantization_config adds dynamic
--            per-token int8 input activations, vLLM's W8A8); fake: dequantized float
--            weights under the original names, loadable with load_state_dict
--   format=  safetensors, pt or onnx (default: from out's extension, else onnx for an .onnx
--            model, else safetensors)
--   per_channel=   one scale per output channel (default true; ONNX output: MatMul per
--            column, Conv per tensor, as ONNX Runtime's quantize_dynamic with per_channel)
--   reduce_range=  ONNX output: 7-bit weights (quantize_dynamic's reduce_range, default false)
--   method=  ONNX output: rtn (default) or gptq for the MatMul weights (needs calib=); calib=,
--            samples=, heldout=, percdamp=, act_order= as in int4_weight_only.lua
--   report=  also write the report as HTML or JSON
--
-- An .onnx model gives an .onnx model as ONNX Runtime's quantize_dynamic writes it:
-- DynamicQuantizeLinear on activations, MatMulInteger/ConvInteger, scale Mul; Gemm layers
-- stay float (quantize_dynamic has no integer Gemm). See docs/onnx-output.md.
--
-- The safetensors output's quantization_config says what torch's dynamic quantization
-- does: int8 weights, activations quantized to int8 at run time (per token, symmetric).
-- That is compressed-tensors' W8A8 with dynamic activations, which vLLM serves
-- (CompressedTensorsW8A8Int8) and transformers loads. For a Hugging Face language model,
-- recipes/llm.lua writes a whole folder; both keep lm_head in float (see include=);
-- its scheme=W8A16 is weight-only int8 (activations stay in float).
--
-- Example:
--   qscript recipes/int8_dynamic.lua model=cnn.pt out=/tmp/cnn.int8.safetensors skip=first_conv
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "skip", "include", "layout", "format", "per_channel", "reduce_range", "report",
  "method", "calib", "samples", "heldout", "percdamp", "act_order" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local format = arg.format
local out = util.output(model_path, arg.out, format, ".int8")

local q = qs.quantize(model, {
  weights = { dtype = "int8", per_channel = util.bool(arg.per_channel, true, "per_channel"), symmetric = true },
  layers = { "Linear", "Conv" },
  skip = util.skip_list(model, arg.skip),
  include = util.skip_list(model, arg.include, "include"),
})

local save_opts = { layout = arg.layout, format = format }
if util.is_onnx(out, format) then
  save_opts.onnx = { reduce_range = util.bool(arg.reduce_range, false, "reduce_range"), method = arg.method or "rtn" }
  if arg.method == "gptq" then
    save_opts.onnx.calib = util.data(arg.calib, nil, "calib")
    save_opts.onnx.samples = arg.samples
    save_opts.onnx.heldout = arg.heldout
    save_opts.onnx.percdamp = arg.percdamp
    save_opts.onnx.act_order = util.bool(arg.act_order, false, "act_order")
  end
else
  for _, k in ipairs({ "reduce_range", "method", "calib", "samples", "heldout", "percdamp", "act_order" }) do
    if arg[k] ~= nil then qs.usage_error(("argument %s applies to .onnx outputs"):format(k)) end
  end
end
qs.save(q, out, save_opts)
local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
