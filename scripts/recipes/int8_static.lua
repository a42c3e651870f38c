-- Static int8 quantization of an ONNX model: calibrates activation ranges on 150 samples and writes a QDQ model for ONNX Runtime.
--
--   qscript recipes/int8_static.lua [model=PATH.onnx] [calib=PATH] [out=PATH] [samples=150]
--                                   [observer=histogram] [skip=first_conv] [per_channel=true]
--                                   [activations=uint8|int8] [eval=PATH.npz] [report=PATH]
--                                   [batch_size=N] [max_memory=1GiB] [batch_axis=IN=AXIS,...]
--                                   [state=OUT:IN,...] [min_sqnr=DB] [max_drop=0.01] [strict=false]
--
-- With no arguments it runs on the bundled example (the digits CNN) from the repository root.
--
-- Arguments:
--   model=        the float ONNX model (default examples/models/digits_cnn.onnx)
--   calib=        calibration data: .npy (first axis = samples), .npz or .safetensors (inputs
--                 by name, several inputs), or a folder of one .npy/.npz per sample
--                 (default examples/models/calib.npy)
--   out=          the output: .onnx for the QDQ model (default <model name>.int8.onnx in the
--                 current folder), or .safetensors/.pt for compressed-tensors with input_scale
--   samples=      calibration samples (default 150; fewer available gives a warning)
--   observer=     histogram (default, torch's), minmax, moving_average, percentile, entropy or mse
--   skip=         layers left in float, comma-separated: node names (/conv1/Conv), weight
--                 prefixes, globs, re:..., first_conv, last_linear, ..., or none (default: first_conv
--                 when the model has a Conv, else none; an explicit skip=first_conv on a model
--                 without one is an error)
--   per_channel=  true (default): one weight scale per output channel; false: per tensor
--   activations=  uint8 (default, affine, torch's) or int8 (ONNX Runtime's S8S8)
--   eval=         held-out data with labels (.npz with input and label): adds output SQNR,
--                 top-1 agreement and float/quantized accuracy to the report. Default: the
--                 example's test split when model and calib are the defaults, else none
--   report=       also write the report as HTML or JSON
--   batch_size=   samples per calibration run (default: chosen from max_memory, at most 32)
--   max_memory=   calibration memory budget: bytes, or 512MiB, 2GiB, 800MB (default 1GiB)
--   batch_axis=   per input, the axis samples are stacked on, -1 to feed it as it is:
--                 state=1,sr=-1 (default: from the model's symbolic dims)
--   state=        recurrent state carried from run to run, OUT:IN pairs (stateN:state):
--                 samples run one at a time, in order, each run's output OUT feeding input IN
--   min_sqnr=     keep the most damaging nodes in float, one at a time, until the output SQNR
--                 on the calibration samples reaches this many dB (each is listed with its gain)
--   max_drop=     with eval= (labelled): keep nodes in float until the quantized accuracy is
--                 within this fraction of the float accuracy (0.01 = one point)
--   strict=       true: any warning (damaged output, a node costing > 3 dB, zeros reaching
--                 Log/Div/Sqrt/Pow/Reciprocal, fewer samples) makes the run fail after saving
--
-- Example:
--   qscript recipes/int8_static.lua model=cnn.onnx calib=calib.npy eval=test.npz out=/tmp/cnn.int8.onnx
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "calib", "out", "samples", "observer", "skip", "per_channel", "activations", "eval", "report",
  "batch_size", "max_memory", "batch_axis", "state", "min_sqnr", "max_drop", "strict" })
local model, model_path = util.load(arg.model, "examples/models/digits_cnn.onnx", "model")
local calib = util.data(arg.calib, "examples/models/calib.npy", "calib")
if arg.model ~= nil and arg.calib == nil then
  qs.note("no calib= given, so the example model's examples/models/calib.npy calibrates " .. tostring(arg.model))
end
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
    qs.note("the model has no Conv layer, so every layer is quantized (pass skip= to keep some in float)")
    skip = "none"
  end
end

local out = arg.out or (util.stem(model_path) .. ".int8.onnx")
local samples = arg.samples or 150
if type(samples) ~= "number" or samples < 1 or samples % 1 ~= 0 then
  qs.usage_error(("argument samples: a positive integer expected, got %s"):format(tostring(arg.samples)))
end

-- max_memory: bytes, or a number with KiB/MiB/GiB (or kB/MB/GB) after it.
local function parse_memory(v)
  if v == nil then return nil end
  if type(v) == "number" and v > 0 then return v end
  local n, unit = tostring(v):match("^%s*([%d%.]+)%s*(%a*)%s*$")
  local scale = ({ [""] = 1, B = 1, KiB = 2^10, MiB = 2^20, GiB = 2^30, kB = 1e3, KB = 1e3, MB = 1e6, GB = 1e9 })[unit or ""]
  if not n or not scale or tonumber(n) == nil or tonumber(n) <= 0 then
    qs.usage_error(("argument max_memory: bytes or a size such as 512MiB or 2GiB expected, got %s"):format(tostring(v)))
  end
  return math.floor(tonumber(n) * scale)
end

-- batch_axis: "state=1,sr=-1" → {state = 1, sr = -1}.
local function parse_axes(v)
  if v == nil then return nil end
  local axes = {}
  for item in tostring(v):gmatch("[^,]+") do
    local name, axis = item:match("^%s*(.-)%s*=%s*(%-?%d+)%s*$")
    if not name or name == "" then
      qs.usage_error(("argument batch_axis: INPUT=AXIS pairs expected (state=1,sr=-1), got %s"):format(item))
    end
    axes[name] = tonumber(axis)
  end
  return axes
end

-- state: "stateN:state,hn:h0" → {{out = "stateN", into = "state"}, ...}.
local function parse_state(v)
  if v == nil then return nil end
  local pairs_ = {}
  for item in tostring(v):gmatch("[^,]+") do
    local out_, into = item:match("^%s*(.-)%s*:%s*(.-)%s*$")
    if not out_ or out_ == "" or into == "" then
      qs.usage_error(("argument state: OUT:IN pairs expected (stateN:state), got %s"):format(item))
    end
    pairs_[#pairs_ + 1] = { out = out_, into = into }
  end
  return pairs_
end

local function positive(v, name)
  if v ~= nil and (type(v) ~= "number" or v <= 0) then
    qs.usage_error(("argument %s: a positive number expected, got %s"):format(name, tostring(v)))
  end
  return v
end

local strict = util.bool(arg.strict, false, "strict")
local max_drop = positive(arg.max_drop, "max_drop")
if max_drop and not eval_data then
  qs.usage_error("argument max_drop: needs eval= (held-out data with labels) to measure the accuracy on")
end

local q = qs.quantize(model, {
  weights = { dtype = "int8", per_channel = util.bool(arg.per_channel, true, "per_channel"), symmetric = true },
  activations = {
    calibrate = calib,
    samples = samples,
    observer = arg.observer or "histogram",
    dtype = arg.activations or "uint8",
    batch_size = positive(arg.batch_size, "batch_size"),
    max_memory = parse_memory(arg.max_memory),
    batch_axis = parse_axes(arg.batch_axis),
    state = parse_state(arg.state),
    min_sqnr = positive(arg.min_sqnr, "min_sqnr"),
  },
  skip = util.skip_list(model, skip),
})
if max_drop then
  q:check(calib, { eval = eval_data, max_drop = max_drop, min_sqnr = arg.min_sqnr, batch_axis = parse_axes(arg.batch_axis),
    state = parse_state(arg.state) })
end

qs.save(q, out)
if eval_data then
  q:evaluate(eval_data)
end

local report = q:report()
print(report)
print("wrote " .. out)
util.save_report(report, report_path)

-- A quantization that damaged the output is not a plain success.
local acc = report.accuracy
if acc and acc.output_sqnr_db < 15 then
  print(("QUALITY CHECK FAILED: the output SQNR is %.1f dB on %d calibration samples (below 15 dB); see the warnings, or try min_sqnr=20"):format(acc.output_sqnr_db, acc.samples))
end
for _, k in ipairs(acc and acc.kept_float or {}) do
  print(("kept in float by %s: %s (%+.1f dB)"):format(k.loop, k.name, k.gain_db))
end
if strict and #report.warnings > 0 then
  error(("strict: %d warning(s); the output was written to %s but is not accepted:\n  - %s"):format(#report.warnings, out, table.concat(report.warnings, "\n  - ")))
end

local result = { output = out, quantized = report.totals.quantized, skipped = report.totals.skipped, ratio = report.totals.ratio }
if acc then
  result.check_sqnr_db = acc.output_sqnr_db
  result.kept_float = #acc.kept_float
end
if report.eval then
  result.output_sqnr_db = report.eval.output_sqnr_db
  result.float_accuracy = report.eval.float_accuracy
  result.quant_accuracy = report.eval.quant_accuracy
end
return result
