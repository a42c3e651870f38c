-- Models: qs.load on every bundled format, tensors, layers, info, errors.
local qs = require "qs"

function TestLoadFormats(t)
  for _, path in ipairs{
    "examples/models/digits_cnn.pt",
    "examples/models/digits_cnn.safetensors",
  } do
    local m = qs.load(path)
    t:eq(m.path, path)
    t:eq(#m:tensors(), 15, path)
    local layers = m:layers()
    t:eq(#layers, 6, path)
    local by_name = {}
    for i, l in ipairs(layers) do
      t:eq(l.index, i, "index counts from 1 in model order")
      by_name[l.name] = l
    end
    t:eq(by_name.conv1.type, "Conv2d")
    t:eq(by_name.conv1.weight, "conv1.weight")
    t:eq(by_name.conv1.bias, "conv1.bias")
    t:eq(by_name.conv1.dtype, "F32")
    t:eq(by_name.bn1.type, "Norm")
    t:eq(by_name.fc1.type, "Linear")
    t:eq(by_name.fc1.shape[2], 512)
    t:eq(#m:layers("Conv"), 3)
    t:eq(#m:layers("Conv2d"), 3)
    t:eq(#m:layers("Linear"), 2)
    t:eq(m:layers("Linear")[2].name, "fc2")
    t:eq(m:layers("Conv")[1].name, "conv1")
    local w = m:get("fc2.weight")
    t:eq(w:dtype(), "F32")
    t:eq(w:shape()[1], 10)
    t:eq(m:get("bn1.num_batches_tracked"):dtype(), "I64")
  end
  -- the two files hold the same values
  local a = qs.load("examples/models/digits_cnn.pt"):get("fc1.weight")
  local b = qs.load("examples/models/digits_cnn.safetensors"):get("fc1.weight")
  t:eq(qs.mse(a, b), 0)
end

function TestLoadONNX(t)
  local m = qs.load("examples/models/digits_cnn.onnx")
  t:eq(m.format, "ONNX")
  local layers = m:layers()
  t:eq(#layers, 5)
  t:eq(layers[1].name, "/conv1/Conv")
  t:eq(layers[1].type, "Conv")
  t:eq(layers[1].weight, "onnx::Conv_29")
  t:eq(m:layers("Linear")[1].name, "/fc1/Gemm")
  t:eq(m:get("fc2.weight"):shape()[2], 64)
end

function TestLoadData(t)
  local m = qs.load("examples/models/test.npz")
  t:eq(#m:tensors(), 2)
  t:eq(m:get("label"):dtype(), "I64")
  t:eq(#m:layers(), 0)
end

function TestInfo(t)
  local info = qs.load("examples/models/digits_cnn.safetensors"):info()
  t:eq(info.format, "safetensors")
  t:eq(info.tensors, 15)
  t:eq(info.layers, 6)
  t:eq(info.metadata.test_accuracy, "0.9778")
  t:eq(info.dtypes.F32, 14)
  t:eq(info.dtypes.I64, 1)
end

function TestTypeOverrides(t)
  local m = qs.load("examples/models/digits_cnn.pt", {types = {fc2 = "Embedding"}})
  t:eq(m:layers("Embedding")[1].name, "fc2")
  t:eq(#m:layers("Linear"), 1)
  t:raises(function() qs.load("examples/models/digits_cnn.pt", {types = {fc3 = "Linear"}}) end, "fc3")
  t:raises(function() qs.load("examples/models/digits_cnn.pt", {types = {fc2 = "Linaer"}}) end, "Linear")
end

function TestModelErrors(t)
  t:raises(function() qs.load("examples/models/nothere.pt") end, "no such file: examples/models/nothere.pt")
  t:raises(function() qs.load() end, "bad argument #1 to load (string expected, got nil)")
  t:raises(function() qs.load("examples/models/digits_cnn.pt", {typs = {}}) end, "did you mean \"types\"?")
  local m = qs.load("examples/models/digits_cnn.pt")
  t:raises(function() m:get("fc1.weigth") end, "no tensor named \"fc1.weigth\" (similar: fc1.weight")
  t:raises(function() m:layers("Conv4d") end, "unknown layer type \"Conv4d\"")
  -- a file whose content is not what its extension says
  t:raises(function() qs.load("examples/models/digits_cnn.json") end, "digits_cnn.json")
end

function TestCached(t)
  -- a second load of an unchanged file shares the reader through the host's cache
  local a = qs.load("examples/models/digits_cnn.pt")
  local b = qs.load("examples/models/digits_cnn.pt")
  t:eq(a:info().tensors, b:info().tensors)
end
