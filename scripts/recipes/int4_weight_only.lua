-- Quantizes Linear weights to int4 in groups of 128 input elements (weight-only, the W4A16 scheme of GPTQ and compressed-tensors).
--
--   qscript recipes/int4_weight_only.lua [model=PATH] [out=PATH] [group_size=128] [symmetric=true]
--                                        [layers=Linear] [skip=LIST] [include=LIST]
--                                        [layout=compressed|fake]
--                                        [format=safetensors|pt|onnx] [int4_form=matmulnbits]
--                                        [accuracy_level=N] [method=rtn|gptq] [calib=PATH]
--                                        [samples=128] [heldout=0] [percdamp=0.01]
--                                        [act_order=false] [report=PATH]
--
-- Arguments:
--   model=       the checkpoint: .safetensors, .safetensors.index.json, .pt/.pth/.bin or .onnx
--                (default examples/models/digits_cnn.pt, relative to the repository root); a
--                .gguf is refused: recipes/gguf.lua requantizes GGUF for llama.cpp
--   out=         the output file (default <model name>.int4.onnx for an .onnx model, else
--                <model name>.int4.safetensors, or .pt with format=pt, in the current folder)
--   group_size=  input elements per scale (default 128; -1 for one scale per output channel)
--   symmetric=   true (default, int4 codes -8..7, no zero point) or false (uint4 with zero points)
--   layers=      layer types to quantize, comma-separated (default Linear; Conv weights are 4-D
--                and stay in float unless you add Conv)
--   skip=        layers left in float: names, globs, re:..., first_conv, last_linear, ... (default: none)
--   include=     only these layers are quantized, like skip= (default: every layer of layers=);
--                a Hugging Face causal LM's lm_head (config.json beside the model) stays in
--                float unless include= names it
--   layout=      compressed (default): weight_packed I32 (8 codes per word), weight_scale
--                [out, ceil(in/group)], weight_shape; fake: dequantized float weights
--   format=      safetensors, pt or onnx (default: from out's extension, else onnx for an
--                .onnx model, else safetensors)
--   int4_form=   ONNX output: matmulnbits (default, com.microsoft.MatMulNBits) or
--                dequantizelinear (int4 DequantizeLinear + MatMul, opset 21)
--   accuracy_level=  ONNX output: MatMulNBits' accuracy_level (0..4; default: not set)
--   method=      ONNX output: rtn (default) or gptq (needs calib=)
--   calib=       GPTQ calibration data (.npy, .npz, .safetensors): samples= of it build the
--                Hessians, the heldout= samples after them measure RTN against GPTQ
--   percdamp=    GPTQ dampening, a fraction of the mean Hessian diagonal (default 0.01)
--   act_order=   GPTQ: columns in decreasing Hessian diagonal order (default false)
--   report=      also write the report as HTML or JSON
--
-- An .onnx model gives an .onnx model whose MatMul weights are 4-bit blocks along K
-- (group_size: 16, 32, 64, 128, ...), packed as ONNX Runtime's matmul_nbits_quantizer packs
-- them; Gemm and Conv stay float. See docs/onnx-output.md.
--
-- A row whose length is not a multiple of the group size ends with a shorter group (the
-- example CNN's fc2 has 64 inputs: one group of 64), which gives exactly the codes of
-- padding the row with zeros to a whole group, as compressed-tensors does. The report
-- says so for every such layer.
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "group_size", "symmetric", "layers", "skip", "include", "layout", "format", "report",
  "int4_form", "accuracy_level", "method", "calib", "samples", "heldout", "percdamp", "act_order" })
local report_path = util.report_path(arg.report)
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")

local group = arg.group_size or 128
if type(group) ~= "number" or (group < 1 and group ~= -1) or group % 1 ~= 0 then
  qs.usage_error(("argument group_size: a positive integer or -1 expected, got %s"):format(tostring(arg.group_size)))
end
local symmetric = util.bool(arg.symmetric, true, "symmetric")
local types = {}
for t in tostring(arg.layers or "Linear"):gmatch("[^,]+") do types[#types + 1] = t end

local format = arg.format
local out = util.output(model_path, arg.out, format, ".int4")

local q = qs.quantize(model, {
  weights = { dtype = symmetric and "int4" or "uint4", group_size = group, symmetric = symmetric },
  layers = types,
  skip = util.skip_list(model, arg.skip),
  include = util.skip_list(model, arg.include, "include"),
})

local save_opts = { layout = arg.layout, format = format }
if util.is_onnx(out, format) then
  local method = arg.method or "rtn"
  save_opts.onnx = { int4_form = arg.int4_form, accuracy_level = arg.accuracy_level, method = method }
  if method == "gptq" then
    save_opts.onnx.calib = util.data(arg.calib, nil, "calib")
    save_opts.onnx.samples = arg.samples
    save_opts.onnx.heldout = arg.heldout
    save_opts.onnx.percdamp = arg.percdamp
    save_opts.onnx.act_order = util.bool(arg.act_order, false, "act_order")
  end
else
  for _, k in ipairs({ "int4_form", "accuracy_level", "method", "calib", "samples", "heldout", "percdamp", "act_order" }) do
    if arg[k] ~= nil then qs.usage_error(("argument %s applies to .onnx outputs"):format(k)) end
  end
end
qs.save(q, out, save_opts)
local report = q:report()
print(report)
if group > 0 and not util.is_onnx(out, format) then
  local partial = {}
  for _, l in ipairs(report.layers) do
    local cols = l.shape[#l.shape]
    if l.quantized and cols % group ~= 0 then
      partial[#partial + 1] = ("%s (%d inputs: last group of %d)"):format(l.name, cols, cols % group)
    end
  end
  if #partial > 0 then
    qs.note(("group size %d does not divide every row; shorter last groups in %s"):format(group, table.concat(partial, ", ")))
  end
end
print("wrote " .. out)
util.save_report(report, report_path)

return { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
