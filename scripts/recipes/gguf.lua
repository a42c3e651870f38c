-- Converts a Hugging Face Llama/Mistral/Qwen2 folder (or an F32/F16/BF16 .gguf) to a GGUF file for llama.cpp and ollama.
--
--   qscript recipes/gguf.lua model=DIR|FILE.gguf [out=FILE.gguf] [type=Q8_0] [override=PATTERN=TYPE,...] [imatrix=FILE] [pure=true]
--
-- Arguments:
--   model=     the model: a Hugging Face folder with config.json (LlamaForCausalLM,
--              MistralForCausalLM or Qwen2ForCausalLM), tokenizer.json or tokenizer.model,
--              and BF16/F16/F32 weights (model.safetensors, shards with their index, or
--              pytorch_model*.bin); or a .gguf file with F32/F16/BF16 tensors to requantize
--   out=       the GGUF file to write, ending in .gguf (default <model name>.<type>.gguf in the
--              current folder)
--   type=      a llama-quantize file type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
--              Q2_K_S, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K (Q3_K, Q4_K
--              and Q5_K mean the _M mixes); default Q8_0
--   override=  per-tensor types as llama-quantize's --tensor-type, comma-separated
--              PATTERN=TYPE pairs, the pattern a regular expression searched in the tensor name:
--              override=blk\..*\.ffn_down=Q6_K,attn_v=Q8_0
--   imatrix=   an importance matrix from llama-imatrix (.gguf or legacy .dat)
--   pure=      true: every quantized tensor gets the type's default (llama-quantize --pure)
--
-- One tensor at a time, in chunks of rows: memory stays near one tensor's float32 chunk. A
-- progress bar is drawn on a terminal (not under -q); the per-tensor summary (name, type and
-- size before -> after) and the totals are printed at the end.
local qs = require "qs"
local util = require "recipeutil"

util.check_args(arg, { "model", "out", "type", "override", "imatrix", "pure" })
if not arg.model then
  qs.usage_error("model= is required: a Hugging Face model folder or a .gguf file", 0)
end
local gtype = arg.type or "Q8_0"
local out = arg.out or (util.stem(tostring(arg.model)) .. "." .. gtype .. ".gguf")
if not tostring(out):lower():match("%.gguf$") then
  qs.usage_error(("argument out=%s: the GGUF file to write must end in .gguf"):format(tostring(out)), 0)
end

local report = qs.gguf.convert(tostring(arg.model), out, {
  type = gtype,
  override = arg.override,
  imatrix = arg.imatrix,
  pure = util.bool(arg.pure, false, "pure"),
})
print(report)

return { output = out, type = report.type, bytes_before = report.bytes_before, bytes_after = report.bytes_after }
