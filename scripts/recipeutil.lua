-- recipeutil: helpers the built-in recipes share: checking key=value arguments, loading
-- the model with a useful error, turning skip=first_conv,fc* into layer names, and output
-- paths. A wrong argument is raised with qs.usage_error, so qscript exits with 2 (usage),
-- not 1; a file that cannot be read is an ordinary error.
--
--   local util = require "recipeutil"
--   util.check_args(arg, {"model", "out", "skip"})       -- a typo is an error, never ignored
--   local model, model_path = util.load(arg.model, "examples/models/digits_cnn.pt", "model")
--   local skip = util.skip_list(model, arg.skip)          -- {"conv1", "fc*"}
local qs = require "qs"

local util = {}

-- Levenshtein distance, for "did you mean" suggestions.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = (a:sub(i, i) == b:sub(j, j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- closest returns the candidate nearest to name, or nil when none is close.
function util.closest(name, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(name:lower(), c:lower())
    if d <= math.max(2, math.floor(#name / 3)) and (best_d == nil or d < best_d) then
      best, best_d = c, d
    end
  end
  return best
end

-- check_args raises an error for an argument the recipe does not take, suggesting the
-- closest one and listing them all.
function util.check_args(args, valid)
  local known = {}
  for _, k in ipairs(valid) do known[k] = true end
  local names = {}
  for k in pairs(args) do names[#names + 1] = tostring(k) end
  table.sort(names)
  for _, k in ipairs(names) do
    if not known[k] then
      local hint = util.closest(k, valid)
      local sorted = {}
      for i, v in ipairs(valid) do sorted[i] = v end
      table.sort(sorted)
      qs.usage_error(("unknown argument '%s'%s; this recipe takes: %s"):format(k,
        hint and (" (did you mean '" .. hint .. "'?)") or "", table.concat(sorted, ", ")), 2)
    end
  end
end

-- message strips the position and the "bad argument" wrapping from an error raised by a
-- qs function, keeping what it says about the file.
function util.message(err)
  local msg = tostring(err):gsub("^[^\n]-:%d+: ", "")
  return msg:match("^bad argument #%d+ to %S+ %((.*)%)$") or msg
end

-- open calls open(path) for the file given in argument `name` (or the default). A failure
-- names the argument; when the default was used, it also says which argument to pass.
local function open_arg(open, path, default, name)
  local given = path ~= nil
  path = path or default
  if type(path) ~= "string" then
    qs.usage_error(("argument %s: a file path expected, got %s"):format(name, tostring(path)), 3)
  end
  local ok, result = pcall(open, path)
  if not ok then
    local msg = util.message(result)
    if not given then
      error(("%s (the default %s=%s is relative to the qscript repository root; run from there, or pass %s=PATH)")
        :format(msg, name, default, name), 3)
    end
    error(("argument %s=%s: %s"):format(name, path, msg), 3)
  end
  return result, path
end

-- load opens the model given in argument `name` (or the default). When the default is
-- missing, the error says which argument to pass. A .gguf is refused (a usage error): its
-- tensors are llama.cpp's (blk.N.* names, Q and K rows permuted for its RoPE, often already
-- quantized), so what these recipes write from it would load in no framework; GGUF is
-- requantized by recipes/gguf.lua (qs.gguf.convert), and a Hugging Face folder quantized by
-- recipes/llm.lua.
function util.load(path, default, name)
  if type(path) == "string" and path:lower():match("%.gguf$") then
    qs.usage_error(("argument %s=%s: a .gguf file is llama.cpp's format (blk.N.* names, Q/K rows permuted, "
      .. "often quantized already), which PyTorch, vLLM and ONNX Runtime could not load even after this recipe; "
      .. "requantize it for llama.cpp with recipes/gguf.lua model=%s type=Q4_K_M (an F32/F16/BF16 .gguf), "
      .. "or quantize the Hugging Face folder it came from with recipes/llm.lua"):format(name, path, path), 2)
  end
  return open_arg(qs.load, path, default, name)
end

-- data opens calibration or evaluation data by extension (.npy, .npz, .safetensors), or a
-- folder: one sample per .npy/.npz file, else images (with opts.size).
function util.data(path, default, name, opts)
  return open_arg(function(p)
    if p:match("%.npy$") then return qs.data.npy(p) end
    if p:match("%.npz$") then return qs.data.npz(p) end
    if p:match("%.safetensors$") then return qs.data.safetensors(p) end
    -- A folder: one sample per .npy/.npz file, else images.
    local ok, folder = pcall(qs.data.folder, p)
    if ok then return folder end
    if not tostring(folder):match("has no %.npy or %.npz files") then error(folder, 0) end
    return qs.data.images(p, opts)
  end, path, default, name)
end

-- skip_list turns "first_conv,fc*,encoder.0.attn" into a list of layer names and globs.
-- "none" or nil gives an empty list. option names the argument in errors (default skip).
function util.skip_list(model, spec, option)
  option = option or "skip"
  local out = {}
  if spec == nil or spec == "none" or spec == "" then return out end
  if type(spec) ~= "string" then
    qs.usage_error(("argument %s: layer names, globs or first_conv/last_linear expected, got %s"):format(option, tostring(spec)), 2)
  end
  for item in spec:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    local layer, err = model:shortcut(item)
    if err then
      qs.usage_error(("argument %s: %s"):format(option, err), 2)
    elseif layer then
      out[#out + 1] = layer.name
    elseif item ~= "" then
      out[#out + 1] = item
    end
  end
  return out
end

-- stem is the file name without folders and without a model file's extension:
-- "digits_cnn" for "examples/models/digits_cnn.pt", "Llama-3.2-1B" for the folder
-- "models/Llama-3.2-1B/" (a dot in a folder's name is no extension).
local model_exts = { ".safetensors.index.json", ".safetensors", ".pt", ".pth", ".bin", ".onnx", ".gguf", ".npy", ".npz" }
function util.stem(path)
  local trimmed = path:gsub("[/\\]+$", "")
  local base = trimmed:match("([^/\\]+)$") or trimmed
  for _, ext in ipairs(model_exts) do
    if #base > #ext and base:sub(-#ext):lower() == ext then
      return base:sub(1, -#ext - 1)
    end
  end
  return base
end

-- output is the recipe's output path: out when given, else <model stem><suffix> with the
-- extension of format (safetensors, pt or onnx), which defaults to onnx for an .onnx
-- model (ONNX in, ONNX out) and to safetensors otherwise.
function util.output(model_path, out, format, suffix)
  if out ~= nil then return out end
  if format == nil then
    format = model_path:lower():match("%.onnx$") and "onnx" or "safetensors"
  end
  return util.stem(model_path) .. suffix .. "." .. format
end

-- is_onnx reports whether a save to path with format writes an ONNX model.
function util.is_onnx(path, format)
  if format ~= nil then return format == "onnx" end
  return path:lower():match("%.onnx$") ~= nil
end

-- report_path checks a report= argument before any work is done: nil, or a path ending in
-- .html or .json.
function util.report_path(path)
  if path ~= nil and (type(path) ~= "string" or not (path:match("%.html?$") or path:match("%.json$"))) then
    qs.usage_error(("argument report=%s: the report is written as .html or .json"):format(tostring(path)), 2)
  end
  return path
end

-- save_report writes the report as .html or .json when a path is given (checked first with
-- report_path).
function util.save_report(report, path)
  if path == nil then return end
  if path:match("%.json$") then
    report:json(path)
  else
    report:html(path)
  end
  print("report written to " .. path)
end

-- bool reads a true/false argument (key=value arguments arrive converted).
function util.bool(value, default, name)
  if value == nil then return default end
  if type(value) ~= "boolean" then
    qs.usage_error(("argument %s: true or false expected, got %s"):format(name, tostring(value)), 2)
  end
  return value
end

return util
