-- Static int8 quantization of an ONNX model: calibrates activation ranges on 150 samples and writes a QDQ model for ONNX Runtime.
--
--   qscript recipes/int8_static.lua [model=PATH.onnx] [calib=PATH] [out=PATH] [samples=150]
--                                   [observer=histogram] [skip=first_conv] [per_channel=true]
--                                   [activations=uint8|int8] [eval=PATH.npz] [report=PATH]
--
-- With no arguments it runs on the bundled example (the digits CNN) from the repository root.
--
-- Arguments:
--   model=        the float ONNX model (default examples/models/digits_cnn.onnx)
--   calib=        calibration data: .npy (first axis = samples), .npz or .safetensors (inputs
--                 by name) (default examples/models/calib.npy)
--   out=          the output: .onnx for the QDQ model (default <model name>.int8.onnx in the
--                 current folder), or .safetensors/.pt for compressed-tensors with input_scale
--   samples=      calibration samples (default 150; fewer available gives a warning)
--   observer=     histogram (default, torch's), minmax, moving_average, percentile, entropy or mse
--   skip=         layers left in float, comma-separated: node names (/conv1/Conv), weight
--                 prefixes, globs, first_conv, last_linear, ..., or none (default: first_conv
--                 when the model has a Conv, else none; an explicit skip=first_conv on a model
--                 without one is an error)
--   per_channel=  true (default): one weight scale per output channel; false: per tensor
--   activations=  uint8 (default, affine, torch's) or int8 (ONNX Runtime's S8S8)
--   eval=         held-out data with labels (.npz with input and label): adds output SQNR,
--                 top-1 agreement and float/quantized accuracy to the report. Default: the
--                 example's test split when model and calib are the defaults, else none
--   report=       also write the report as HTML or JSON
--
-- Example:
--   qscript recipes/int8_static.lua model=cnn.onnx calib=calib.npy eval=test.npz out=/tmp/cnn.int8.onnx
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "calib", "out", "samples", "observer", "skip", "per_channel", "activations", "eval", "report" })
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.onnx", "model")
local calib = util.data(arg.calib, "examples/models/calib.npy", "calib")
local report_path = util.report_path(arg.report)

local eval_data
if arg.eval ~= nil then
  eval_data = util.data(arg.eval, nil, "eval")
elseif arg.model == nil and arg.calib == nil then
  eval_data = util.data(nil, "examples/models/test.npz", "eval")
end

-- The first conv sees raw pixels and is the layer int8 hurts most, so it stays float by
-- default; a model without convolutions (a transformer block) has nothing to keep.
local skip = arg.skip
if skip == nil then
  if #model:layers("Conv") > 0 then
    skip = "first_conv"
  else
    print("note: the model has no Conv layer, so every layer is quantized (pass skip= to keep some in float)")
    skip = "none"
  end
end

local out = arg.out or (util.stem(model_path) .. ".int8.onnx")
local samples = arg.samples or 150
if type(samples) ~= "number" or samples < 1 or samples % 1 ~= 0 then
  error(("argument samples: a positive integer expected, got %s"):format(tostring(arg.samples)))
end

local q = qs.quantize(model, {
  weights = { dtype = "int8", per_channel = util.bool(arg.per_channel, true, "per_channel"), symmetric = true },
  activations = {
    calibrate = calib,
    samples = samples,
    observer = arg.observer or "histogram",
    dtype = arg.activations or "uint8",
  },
  skip = util.skip_list(model, skip),
})

qs.save(q, out)
if eval_data then
  q:evaluate(eval_data)
end

local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

local result = { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
if report.eval then
  result.output_sqnr_db = report.eval.output_sqnr_db
  result.float_accuracy = report.eval.float_accuracy
  result.quant_accuracy = report.eval.quant_accuracy
end
return result
