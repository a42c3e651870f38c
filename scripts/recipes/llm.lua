-- Quantizes a Hugging Face model folder into a compressed-tensors folder that vLLM and transformers load (llm-compressor presets, mixed precision).
--
--   qscript recipes/llm.lua model=DIR out=DIR [scheme=W4A16] [group_size=N] [ignore=LIST]
--                           [override=TARGETS=SCHEME;...] [max_shard_size=5GB] [overwrite=true]
--                           [report=PATH.html|PATH.json]
--
-- Arguments:
--   model=           a Hugging Face model folder: config.json and model.safetensors, shards
--                    with model.safetensors.index.json, or pytorch_model*.bin (bf16, f16, f32)
--   out=             the folder to write (created whole, or not at all); an existing non-empty
--                    folder is refused unless qscript wrote it and overwrite=true
--   scheme=          W4A16 (default: int4, groups of 128, symmetric), W4A16_ASYM, W8A16,
--                    W8A8 (int8 weights, dynamic per-token int8 activations), FP8_DYNAMIC,
--                    W8A16_FP8 (fp8 weights only); FP8 (static activations) is refused
--   group_size=      columns per scale for integer weights (-1: one scale per output channel)
--   ignore=          modules left in full precision, comma-separated: exact names, re:regexes,
--                    class names (lm_head of a *ForCausalLM model is always added)
--   override=        other schemes for some modules, ';'-separated TARGETS=SCHEME entries,
--                    TARGETS comma-separated: override=re:.*down_proj=W8A16;re:.*o_proj=W8A8
--   max_shard_size=  largest shard (default 5GB; KB/MB/GB and KiB/MiB/GiB)
--   overwrite=       true to replace a folder qscript wrote before (only its files)
--   report=          also write the report as HTML or JSON (worst layers and totals per
--                    config group first; the per-layer table collapsed)
--
-- Example:
--   qscript recipes/llm.lua model=Llama-3.2-1B out=Llama-3.2-1B-W4A16 override=re:.*down_proj=W8A16
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "scheme", "group_size", "ignore", "override", "max_shard_size", "overwrite", "report" })
local report_path = util.report_path(arg.report)
if arg.model == nil or arg.out == nil then
  qs.usage_error("model=DIR and out=DIR are required (qscript help llm)", 0)
end

if tostring(arg.out):lower():match("%.safetensors$") or tostring(arg.out):lower():match("%.gguf$") then
  qs.usage_error(("argument out=%s: out= names the folder to write, not a file (a GGUF file: recipes/gguf.lua)"):format(tostring(arg.out)), 0)
end

local function list(s, sep)
  local out = {}
  for item in tostring(s or ""):gmatch("[^" .. sep .. "]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- override=TARGETS=SCHEME: the scheme follows the last '=' (regexes may hold '=').
local overrides = {}
for _, entry in ipairs(list(arg.override, ";")) do
  local targets, scheme = entry:match("^(.*)=([^=]+)$")
  if targets == nil or targets == "" then
    qs.usage_error(("argument override=%s: TARGETS=SCHEME expected, e.g. re:.*down_proj=W8A16"):format(entry), 0)
  end
  overrides[#overrides + 1] = { targets = list(targets, ","), scheme = scheme }
end

local max_shard = arg.max_shard_size
if type(max_shard) == "number" then max_shard = tostring(math.floor(max_shard)) end

local r = qs.quantize_folder {
  model = tostring(arg.model),
  out = tostring(arg.out),
  scheme = arg.scheme and tostring(arg.scheme) or "W4A16",
  group_size = arg.group_size,
  ignore = list(arg.ignore, ","),
  overrides = overrides,
  max_shard_size = max_shard,
  overwrite = util.bool(arg.overwrite, false, "overwrite"),
}
print(r.summary)
print("wrote " .. r.output)
util.save_report(r.report, report_path)
return { output = r.output, quantized = r.quantized, shards = #r.shards, formats = table.concat(r.formats, ",") }
