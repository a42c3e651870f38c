-- Tensors: construction, shape, stats, casts, indexing, tostring.
local qs = require "qs"

function TestConstruct(t)
  local a = qs.tensor{{1, 2, 3}, {4, 5, 6}}
  t:eq(a:dtype(), "F32")
  t:eq(a:dim(), 2)
  t:eq(a:shape()[1], 2)
  t:eq(a:shape()[2], 3)
  t:eq(a:numel(), 6)
  local b = qs.tensor({1, 2, 3, 4, 5, 6}, {shape = {3, 2}, dtype = "int8"})
  t:eq(b:dtype(), "I8")
  t:eq(b:get(3, 2), 6)
  t:eq(qs.tensor(7):item(), 7)
  t:eq(qs.zeros{2, 2}:sum(), 0)
  t:eq(qs.ones(2, 3):sum(), 6)
  t:eq(qs.ones({4}, {dtype = "bf16"}):dtype(), "BF16")
end

function TestBadConstruct(t)
  t:raises(function() qs.tensor{{1, 2}, {3}} end, "ragged data")
  local loop = {}; loop[1] = loop
  t:raises(function() qs.tensor(loop) end, "nested deeper than 64 levels")
  t:raises(function() qs.tensor({1, 2, 3}, {shape = {2, 2}}) end, "holds 4 elements, the data has 3")
  t:raises(function() qs.tensor({1}, {dtyp = "F32"}) end, "did you mean \"dtype\"?")
  t:raises(function() qs.tensor({1}, {dtype = "float33"}) end, "unknown dtype \"float33\"")
  t:raises(function() qs.tensor(nil) end, "bad argument #1 to tensor (table expected, got nil)")
end

function TestStats(t)
  local a = qs.tensor{{1, -2, 3}, {4, 5, -6}}
  t:eq(a:min(), -6)
  t:eq(a:max(), 5)
  t:eq(a:absmax(), 6)
  t:near(a:mean(), 5 / 6, 1e-12)
  -- torch.tensor([1,-2,3,4,5,-6.]).std() (unbiased) = 4.167333
  t:near(a:std(), 4.1673332800, 1e-9)
  t:raises(function() qs.zeros{0}:min() end, "empty tensor")
end

function TestIndexing(t)
  local a = qs.tensor{{1, 2, 3}, {4, 5, 6}}
  t:eq(#a, 2)
  t:eq(tostring(a[2]), "tensor(F32, shape={3}) {4, 5, 6}")
  t:eq(a[2][3], 6)
  t:eq(a[-1][1], 4)
  t:eq(a:get(1, 2), 2)
  t:eq(a:table()[2][1], 4)
  t:raises(function() return a[3] end, "index 3 out of range for dimension 1 of size 2")
  t:raises(function() return a:get(1) end, "get: 1 indices for a 2-d tensor")
  t:raises(function() return a:item() end, "has 6 elements, not 1")
  local r = a:reshape{3, 2}
  t:eq(r:get(3, 1), 5)
end

function TestCasts(t)
  -- torch.tensor([0.1, 1/3, 65504, 70000]).half() -> 0.0999755859375, 0.333251953125, 65504, inf
  local h = qs.tensor{0.1, 1 / 3, 65504, 70000}:to("fp16")
  t:eq(h:dtype(), "F16")
  t:eq(h[1], 0.0999755859375)
  t:eq(h[2], 0.333251953125)
  t:eq(h[3], 65504)
  t:eq(h[4], 1 / 0)
  -- .bfloat16(): 0.10009765625, 0.333984375
  local b = qs.tensor{0.1, 1 / 3}:to("bfloat16")
  t:eq(b[1], 0.10009765625)
  t:eq(b[2], 0.333984375)
  -- integers round half to even and saturate
  local i = qs.tensor{2.5, -300, 3.5}:to("int8")
  t:eq(i[1], 2)
  t:eq(i[2], -128)
  t:eq(i[3], 4)
end

function TestMetrics(t)
  local x = qs.tensor{1, 2, 3, 4}
  local y = qs.tensor{1, 2, 3, 5}
  t:near(qs.mse(x, y), 0.25, 1e-12)
  t:near(qs.sqnr(x, y), 10 * math.log10(30 / 1), 1e-9)
  t:eq(qs.sqnr(x, x), 1 / 0)
  t:near(qs.cosine(x, y), 34 / math.sqrt(30 * 39), 1e-9)
  t:raises(function() qs.sqnr(x, qs.zeros{3}) end, "shape {3} does not match")
end

function TestRandn(t)
  local a = qs.randn({1000}, {seed = 3})
  local b = qs.randn({1000}, {seed = 3})
  t:eq(qs.mse(a, b), 0)
  t:near(a:mean(), 0, 0.15)
  t:near(a:std(), 1, 0.1)
end
