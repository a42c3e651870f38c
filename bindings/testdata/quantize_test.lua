-- qs.quantize, qs.config, qs.save and the report: round trips through the saved files,
-- compared with torch's values (testdata/torch_ref.lua), and the errors.
local qs = require "qs"
local ref = require "bindings.testdata.torch_ref"

local function flat(tbl)
  local out = {}
  local function walk(v)
    if type(v) == "table" then
      for _, x in ipairs(v) do walk(x) end
    else
      out[#out + 1] = v
    end
  end
  walk(tbl)
  return out
end

local function same_list(t, got, want, what)
  t:eq(#got, #want, what .. " length")
  for i = 1, #want do
    if got[i] ~= want[i] then
      t:error(("%s[%d]: got %s, want %s"):format(what, i, tostring(got[i]), tostring(want[i])))
      return
    end
  end
end

local function layer(report, name)
  for _, l in ipairs(report.layers) do
    if l.name == name then return l end
  end
end

local function exists(path)
  return pcall(qs.load, path)
end

local model = "examples/models/digits_cnn.pt"

function TestInt8CompressedMatchesTorch(t)
  local m = qs.load(model)
  local q = qs.quantize(m, {skip = {m:layers("Conv")[1].name}})
  local out = t.tmp .. "/cnn.int8.safetensors"
  t:eq(qs.save(q, out, {metadata = {dataset = "digits"}}), out)
  t:eq(q:report().output, out, "the report names the file as the recipe did")
  local s = qs.load(out)
  local codes = s:get("fc2.weight")
  t:eq(codes:dtype(), "I8")
  same_list(t, flat(codes:table()), flat(ref.fc2.codes), "fc2 codes")
  same_list(t, flat(s:get("fc2.weight_scale"):table()), ref.fc2.scale, "fc2 scales")
  t:eq(s:get("conv1.weight"):dtype(), "F32", "the first conv stays float")
  t:eq(s:get("fc2.bias"):dtype(), "F32", "biases stay float")
  local info = s:info()
  t:eq(info.metadata.dataset, "digits")
  t:eq(info.quantization ~= nil, true, "quantization record")
  t:eq(info.quantization_config ~= nil, true, "compressed-tensors config")
  t:eq(info.quantization:find('"conv1"', 1, true) ~= nil, true, "the record lists the skipped layer")
  -- the input is untouched
  t:eq(m:get("fc2.weight"):dtype(), "F32")
end

function TestFakeLayout(t)
  local q = qs.quantize(qs.load(model))
  local out = t.tmp .. "/cnn.fake.pt"
  qs.save(q, out, {layout = "fake"})
  local s = qs.load(out)
  local w = s:get("fc2.weight")
  t:eq(w:dtype(), "F32")
  local v = flat(w:table())
  local codes, scale = flat(ref.fc2.codes), ref.fc2.scale
  for i = 1, #v do
    local want = qs.tensor{codes[i] * scale[math.floor((i - 1) / 64) + 1]}:item() -- float32 product
    if v[i] ~= want then
      t:error(("fake fc2[%d] = %s, want %s"):format(i, v[i], want))
      break
    end
  end
  t:eq(#s:tensors(), 15, "same tensors as the input")
end

function TestCasts(t)
  local m = qs.load(model)
  for _, c in ipairs{{"fp16", "F16", ref.fc2.half}, {"bf16", "BF16", ref.fc2.bfloat16}} do
    local out = t.tmp .. "/cnn." .. c[1] .. ".safetensors"
    qs.save(qs.quantize(m, {weights = {dtype = c[1]}}), out)
    local s = qs.load(out)
    t:eq(s:get("fc2.weight"):dtype(), c[2])
    same_list(t, flat(s:get("fc2.weight"):table()), flat(c[3]), c[1] .. " fc2")
    t:eq(s:get("bn1.running_var"):dtype(), c[2], "every float tensor is cast")
    t:eq(s:get("bn1.num_batches_tracked"):dtype(), "I64", "integer tensors stay")
  end
end

function TestPtEqualsSafetensors(t)
  local q = qs.quantize(qs.load(model), {weights = {dtype = "int4"}, layers = {"Linear"}})
  local a, b = t.tmp .. "/m.safetensors", t.tmp .. "/m.pt"
  qs.save(q, a)
  qs.save(q, b)
  local sa, sb = qs.load(a), qs.load(b)
  t:eq(#sa:tensors(), #sb:tensors())
  for _, info in ipairs(sa:tensors()) do
    local x, y = sa:get(info.name), sb:get(info.name)
    t:eq(y:dtype(), x:dtype(), info.name)
    same_list(t, flat(y:table()), flat(x:table()), info.name)
  end
  t:eq(sa:get("fc1.weight_packed"):dtype(), "I32")
  t:eq(sa:get("fc1.weight_scale"):shape()[2], 4, "512 inputs in groups of 128")
end

function TestConvertLoadedModel(t)
  local m = qs.load(model)
  local out = t.tmp .. "/plain.safetensors"
  qs.save(m, out, {metadata = {note = "converted"}})
  local s = qs.load(out)
  t:eq(#s:tensors(), 15)
  t:eq(qs.mse(s:get("fc1.weight"), m:get("fc1.weight")), 0)
  t:eq(s:info().metadata.note, "converted")
  t:raises(function() qs.save(qs.load(out), out) end, "refusing to overwrite the input model")
end

function TestReport(t)
  local m = qs.load(model)
  local r = qs.quantize(m, {skip = {"conv1"}}):report()
  local text = tostring(r)
  t:eq(text:find("fc1", 1, true) ~= nil, true, "table lists fc1")
  t:eq(r.totals.quantized, 4)
  t:eq(r.totals.skipped, 2)
  t:eq(r.totals.ratio > 3.5, true, "int8 compresses about 4x")
  t:eq(r.input, model)
  t:eq(r.title:find("quantize_test", 1, true) ~= nil, true, "title names the recipe: " .. r.title)
  local fc1 = layer(r, "fc1")
  t:eq(fc1.quantized, true)
  t:eq(fc1.qdtype, "int8")
  t:eq(fc1.sqnr_db > 40, true)
  t:eq(fc1.cosine > 0.999, true)
  t:eq(layer(r, "conv1").quantized, false)
  t:eq(layer(r, "conv1").reason, "skip: conv1")
  t:eq(r.changes, nil, "first run: nothing to compare")
  local json, html = t.tmp .. "/r.json", t.tmp .. "/r.html"
  r:json(json)
  r:html(html)
  local back = qs.report.read(json)
  t:eq(back.totals.bytes_after, r.totals.bytes_after)
  t:eq(layer(back, "fc1").sqnr_db, fc1.sqnr_db)
  t:eq(r:diff(back), "")
  local r2 = qs.quantize(m):report()
  t:eq(r:diff(r2) ~= "", true, "quantizing conv1 too is a change")
end

function TestConfig(t)
  local m = qs.load(model)
  qs.config{weights = {dtype = "int8", per_channel = false}, skip = {"fc2"}}
  local q = qs.quantize(m, {weights = {symmetric = false}})
  local r = q:report()
  t:eq(layer(r, "fc1").granularity, "per_tensor", "config per_channel=false applies")
  t:eq(layer(r, "fc2").quantized, false, "config skip applies")
  t:eq(q:scheme():find("affine", 1, true) ~= nil, true, "call's symmetric=false applies: " .. q:scheme())
  local q2 = qs.quantize(m, {skip = {}})
  t:eq(layer(q2:report(), "fc2").quantized, true, "the call's skip replaces the config's")
  t:raises(function() qs.config{wieghts = {}} end, "did you mean \"weights\"?")
end

function TestPredicates(t)
  local m = qs.load(model)
  local seen = 0
  local q = qs.quantize(m, {skip = {function(l)
    seen = seen + 1
    return l.type == "Linear" and l.shape[1] < 32
  end}})
  t:eq(seen > 0, true, "the predicate ran")
  local r = q:report()
  t:eq(layer(r, "fc2").quantized, false)
  t:eq(layer(r, "fc1").quantized, true)
  local q2 = qs.quantize(m, {include = {"fc*", function(l) return l.name == "conv3" end}})
  local names = {}
  for _, l in ipairs(q2:layers()) do
    if l.quantized then names[#names + 1] = l.name end
  end
  t:eq(table.concat(names, ","), "conv3,fc1,fc2")
  t:raises(function()
    qs.quantize(m, {skip = {function(l) return l.nope.x end}})
  end, "quantize_test.lua:182: attempt to index")
end

function TestRegexSkip(t)
  local m = qs.load(model)
  local r = qs.quantize(m, {skip = {"re:conv[12]"}, include = {"re:.*\\d$"}}):report()
  t:eq(layer(r, "conv1").reason, "skip: re:conv[12]")
  t:eq(layer(r, "conv2").quantized, false)
  t:eq(layer(r, "conv3").quantized, true)
  t:eq(layer(r, "fc2").quantized, true)
  t:raises(function() qs.quantize(m, {skip = {"re:onv1"}}) end, "skip: pattern \"re:onv1\" matches no layer")
  t:raises(function() qs.quantize(m, {skip = {"re:fc("}}) end,
    "skip: pattern \"re:fc(\": not a regular expression Go can run")
end

function TestShortcuts(t)
  local m = qs.load(model)
  t:eq(m:shortcut("first_conv").name, "conv1")
  t:eq(m:shortcut("last_linear").name, "fc2")
  t:eq(m:shortcut("conv1"), nil, "a layer name is no shortcut")
  local r = qs.quantize(m, {skip = {"first_conv", "last_conv"}}):report()
  t:eq(layer(r, "conv1").reason, "skip: conv1")
  t:eq(layer(r, "conv3").reason, "skip: conv3")
  t:eq(layer(r, "conv2").quantized, true)
  local onnx = qs.load("examples/models/digits_cnn.onnx")
  t:eq(onnx:shortcut("first_linear").type, "Gemm")
end

function TestOptionErrors(t)
  local m = qs.load(model)
  t:raises(function() qs.quantize(m, {weights = {per_chanel = true}}) end,
    "unknown option \"per_chanel\" in weights (did you mean \"per_channel\"?); valid options: dtype, group_size, per_channel, symmetric")
  t:raises(function() qs.quantize(m, {skp = {"conv1"}}) end, "(did you mean \"skip\"?)")
  t:raises(function() return qs.quantise end, "qs has no field \"quantise\" (did you mean \"quantize\"?)")
  t:raises(function() return qs.observer.histgram end, "qs.observer has no field \"histgram\" (did you mean \"histogram\"?)")
  t:raises(function() qs.quantize(m, {weights = {dtype = "int9"}}) end, "unknown dtype \"int9\"")
  t:raises(function() qs.quantize(m, {weights = {per_channel = "yes"}}) end, "boolean expected, got string")
  t:raises(function() qs.quantize(m, "int8") end, "bad argument #2 to quantize (table expected, got string)")
  t:raises(function() qs.quantize("m.pt") end, "bad argument #1 to quantize (qs.Model expected, got string)")
  t:raises(function() qs.quantize(m, {skip = {"conv9"}}) end, "skip: no layer named \"conv9\" (similar layers: conv1")
  t:raises(function() qs.quantize(m, {skip = {"dense*"}}) end, "pattern \"dense*\" matches no layer")
  t:raises(function() qs.quantize(m, {layers = {"Lineer"}}) end, "Linear")
  t:raises(function() qs.quantize(m, {activations = {dtype = "uint8"}}) end, "needs calibrate = data")
  t:raises(function() qs.quantize(m, {activations = {calibrate = qs.data.npy("examples/models/calib.npy")}}) end,
    "needs an ONNX model")
end

function TestSaveErrorsLeaveNoFile(t)
  local q = qs.quantize(qs.load(model))
  local out = t.tmp .. "/bad.safetensors"
  t:raises(function() qs.save(q, out, {metadata = {epochs = 3}}) end, "value of \"epochs\" must be a string, got number")
  t:eq(exists(out), false, "no file after a metadata error")
  t:raises(function() qs.save(q, out, {metadata = {quantization = "x"}}) end, "reserved")
  t:raises(function() qs.save(q, out, {layot = "fake"}) end, "(did you mean \"layout\"?)")
  t:raises(function() qs.save(q, out, {layout = "fak"}) end, "did you mean \"fake\"?")
  t:raises(function() qs.save(q, t.tmp .. "/x.pt", {metadata = {dataset = "digits"}}) end, "a .pt file has no place for metadata")
  t:eq(exists(t.tmp .. "/x.pt"), false, "no file after a metadata error")
  t:raises(function() qs.save(q, t.tmp .. "/x.bin2") end, "cannot tell the format")
  t:raises(function() qs.save(q, t.tmp .. "/x.onnx") end, "ONNX output needs an ONNX input model")
  local f8 = qs.quantize(qs.load(model), {weights = {dtype = "fp8_e4m3"}})
  t:raises(function() qs.save(f8, t.tmp .. "/f8.pt") end, "cannot hold")
  t:eq(exists(t.tmp .. "/f8.pt"), false, "no file after a format error")
  t:raises(function() qs.save(q, model .. "/x.safetensors") end, "digits_cnn.pt/x.safetensors")
  t:eq(exists(out), false)
  t:raises(function() qs.save("q", out) end, "bad argument #1 to save (qs.Quantized or qs.Model expected, got string)")
end
