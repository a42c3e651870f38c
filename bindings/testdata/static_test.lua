-- Static quantization of the example ONNX CNN: data sources, qs.calibrate, activations =
-- {calibrate = ...}, evaluation, QDQ and compressed-tensors outputs.
local qs = require "qs"

local onnx = "examples/models/digits_cnn.onnx"

function TestData(t)
  local calib = qs.data.npy("examples/models/calib.npy")
  t:eq(calib:len(), 150)
  t:eq(#calib, 150)
  t:eq(calib:inputs()[1].shape[1], 1)
  t:eq(calib.has_target, false)
  local test = qs.data.npz("examples/models/test.npz")
  t:eq(test:len(), 360)
  t:eq(test.has_target, true, "the label array is the target")
  t:eq(#test:inputs(), 1)
  t:eq(test:limit(10):len(), 10)
  local sel = qs.data.npz("examples/models/test.npz", {input = "input", label = "label"})
  t:eq(sel.has_target, true)
  t:raises(function() qs.data.npz("examples/models/test.npz", {input = "inputs"}) end, "no array named \"inputs\" (similar: input)")
  t:raises(function() qs.data.npy("examples/models/nothere.npy") end, "no such file: examples/models/nothere.npy")
  t:raises(function() qs.data.images("examples/models", {size = 0}) end, "option 'size'")
  t:raises(function() qs.data.npy("examples/models/calib.npy", {input = "x"}) end, "unknown option \"input\"")
  local mem = qs.data.tensors(qs.zeros{4, 1, 8, 8}, {target = qs.tensor{1, 2, 3, 4}})
  t:eq(mem:len(), 4)
  t:eq(mem.has_target, true)
end

function TestCalibrateAndQuantize(t)
  local m = qs.load(onnx)
  local cal = qs.calibrate(m, qs.data.npy("examples/models/calib.npy"), {samples = 40, observer = "minmax"})
  t:eq(cal.samples, 40)
  t:eq(cal.observer, "minmax")
  t:eq(#cal.activations, 5)
  t:eq(cal.activations[1].name, "input")
  t:eq(cal.activations[1].min, 0)
  local q = qs.quantize(m, {activations = {calibrate = cal}, skip = {m:layers("Conv")[1].name}})
  local r = q:report()
  t:eq(r.totals.quantized, 4)
  t:eq(#r.activations, 4) -- the skipped conv1's input stays float, so the report leaves it out
  t:eq(r.activations[1].name ~= "input", true)
  t:eq(r.activations[2].observer, "minmax")
  local e = q:evaluate(qs.data.npz("examples/models/test.npz"), {samples = 100})
  t:eq(e.samples, 100)
  t:eq(e.top1_agreement > 0.95, true)
  t:eq(e.quant_accuracy > 0.9, true)
  t:eq(q:report().eval.samples, 100, "the evaluation goes into the report")
  local out = t.tmp .. "/cnn.int8.onnx"
  t:eq(q:report().output, "", "not saved yet")
  qs.save(q, out, {metadata = {dataset = "digits"}})
  t:eq(q:report().output, out)
  local s = qs.load(out)
  t:eq(s.format, "ONNX")
  t:eq(s:info().metadata.dataset, "digits")
  t:eq(s:info().quantization ~= nil, true)
  local st = t.tmp .. "/cnn.int8.safetensors"
  qs.save(q, st)
  t:eq(q:report().output, st, "the report names the last file saved, in either format")
  local names = {}
  for _, info in ipairs(qs.load(st):tensors()) do names[info.name] = info.dtype end
  t:eq(names["fc1.weight"], "I8")
  t:eq(names["fc1.input_scale"], "F32", "input_scale of a static layer")
  t:eq(names["fc1.input_zero_point"], "I8", "uint8 activations are affine: a zero point")
  t:eq(names["onnx::Conv_29"], "F32", "the skipped first conv (folded with bn1, under its ONNX initializer name) stays float")
end

function TestQuantizeWithData(t)
  local m = qs.load(onnx)
  local x = qs.load("examples/models/test.npz"):get("input")
  local q = qs.quantize(m, {
    weights = {per_channel = false},
    activations = {calibrate = x, samples = 20, observer = "percentile", dtype = "int8"},
    layers = {"Conv"},
  })
  local r = q:report()
  t:eq(r.totals.quantized, 3, "only Conv layers")
  t:eq(r.activations[1].qdtype, "int8")
  t:eq(r.scheme:find("per_tensor", 1, true) ~= nil, true, r.scheme)
end

function TestStaticPredicates(t)
  local m = qs.load(onnx)
  local calls = 0
  local q = qs.quantize(m, {
    activations = {calibrate = qs.data.npy("examples/models/calib.npy"), samples = 20},
    skip = {function(l) calls = calls + 1; return l.type == "Gemm" end},
  })
  t:eq(calls, #m:layers(), "the predicate runs once per layer")
  local r = q:report()
  t:eq(r.totals.quantized, 3, "the Gemm nodes stay float")
  for _, l in ipairs(r.layers) do
    t:eq(l.quantized, l.type ~= "Gemm", l.name)
  end
end

function TestStaticErrors(t)
  local m = qs.load(onnx)
  local calib = qs.data.npy("examples/models/calib.npy")
  t:raises(function() qs.quantize(m, {activations = {calibrate = calib, sample = 10}}) end,
    "unknown option \"sample\" in activations (did you mean \"samples\"?)")
  t:raises(function() qs.quantize(m, {activations = {calibrate = calib, observer = "minmx"}}) end,
    "option 'activations.observer': unknown value \"minmx\" (did you mean \"minmax\"?)")
  t:raises(function() qs.quantize(m, {weights = {dtype = "int4"}, activations = {calibrate = calib}}) end,
    "static ONNX quantization writes int8 or uint8 weights")
  t:raises(function() qs.quantize(m, {activations = {calibrate = "calib.npy"}}) end, "data expected")
  t:raises(function() qs.quantize(m, {activations = {calibrate = calib}, skip = {"/conv9/Conv"}}) end,
    "no layer named \"/conv9/Conv\"")
  -- options are checked before calibration: data that cannot calibrate is never read
  local misfit = qs.zeros{4, 3, 8, 8}
  t:raises(function() qs.quantize(m, {activations = {calibrate = misfit}, skip = {"/conv9/Conv"}}) end,
    "no layer named \"/conv9/Conv\"")
  t:raises(function() qs.quantize(m, {weights = {dtype = "int4"}, activations = {calibrate = misfit}}) end,
    "static ONNX quantization writes int8 or uint8 weights")
  -- data that does not fit the model's input names both shapes
  t:raises(function() qs.calibrate(m, qs.zeros{4, 3, 8, 8}) end, "[N,1,8,8]")
  t:raises(function() qs.calibrate(qs.load("examples/models/digits_cnn.pt"), calib) end, "needs an ONNX model")
  local w = qs.quantize(m)
  t:raises(function() w:evaluate(calib) end, "needs static quantization")
end

function TestDataTake(t)
  local x, y = qs.data.npz("examples/models/test.npz"):take(5)
  t:eq(x:shape()[1], 5)
  t:eq(y:dtype(), "I64")
  t:eq(y:numel(), 5)
  local whole = qs.load("examples/models/test.npz"):get("input")
  t:eq(x:get(3, 1, 4, 5), whole:get(3, 1, 4, 5))
  local c, none = qs.data.npy("examples/models/calib.npy"):limit(2):take(10)
  t:eq(c:shape()[1], 2, "take stops at the end of the data")
  t:eq(none, nil)
end

function TestImages(t)
  -- torchvision's Resize(12) + ToTensor of data/testdata/images, computed by PIL/torchvision
  -- (data/testdata/images_ref.npz, made by scripts/fixtures/data_images.py); the data
  -- package checks every pixel, here: the options reach it.
  local ref = qs.load("data/testdata/images_ref.npz")
  local full = qs.data.images("data/testdata/images", {size = 12})
  t:eq(full:len(), 4)
  local x = full:take(1)
  local want = ref:get("full")
  t:eq(#x:shape(), 4)
  t:eq(x:shape()[2], want:shape()[2])
  local s1 = qs.sqnr(want[1], x[1])
  t:eq(s1 > 50, true, "first image matches torchvision: SQNR " .. s1)
  local gray = qs.data.images("data/testdata/images", {size = 6, gray = true, mean = 0.5, std = 0.25, layout = "NHWC"})
  local g = gray:take(4)
  t:eq(g:shape()[4], 1, "NHWC with one channel")
  local s2 = qs.sqnr(ref:get("gray"), g)
  t:eq(s2 > 30, true, "gray images match PIL's (JPEG decoders differ by a level or two): SQNR " .. s2)
  t:raises(function() qs.data.images("data/testdata/images", {size = 6, layout = "NCWH"}) end, "did you mean \"NCHW\"?")
end

function TestStaticNoWeight(t)
  -- The encoder's attention MatMuls multiply two activations: quantized, but no weight.
  local m = qs.load("examples/models/encoder_block_op17.onnx")
  local q = qs.quantize(m, {activations = {calibrate = qs.data.npy("examples/models/encoder_calib.npy"), samples = 8}})
  local r = q:report()
  local none, weighted = 0, 0
  for _, l in ipairs(r.layers) do
    t:eq(l.quantized, true, l.name)
    if l.no_weight then
      none = none + 1
      t:eq(l.sqnr_db, nil, l.name)
      t:eq(l.scale_min, nil, l.name)
      t:eq(l.cosine, nil, l.name)
    else
      weighted = weighted + 1
      t:eq(l.no_weight, false, l.name)
      t:eq(l.sqnr_db > 20, true, l.name)
    end
  end
  t:eq(none, 2, "the two attention MatMuls")
  t:eq(weighted, 4)
end
