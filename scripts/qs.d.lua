---@meta qs
-- LuaLS (lua-language-server) annotations for qscript's `qs` module, for editor completion
-- and type checks. They describe docs/lua-api.md; nothing here runs. Point LuaLS at this
-- folder (`"workspace.library": ["<qscript>/scripts"]`, `"runtime.version": "Lua 5.1"`)
-- or copy this file next to your recipes.

---Command-line arguments: `qscript r.lua key=value ...`; numbers and true/false are converted.
---@type table<string, string|number|boolean>
arg = {}

---@alias qs.DTypeName "F64"|"F32"|"F16"|"BF16"|"F8_E4M3"|"F8_E5M2"|"I64"|"I32"|"I16"|"I8"|"U8"|"BOOL"|"float32"|"float16"|"fp16"|"half"|"bf16"|"bfloat16"|"int8"|"uint8"|"int32"|"int64"|string
---@alias qs.QDType "int8"|"uint8"|"int4"|"uint4"|"int16"
---@alias qs.WeightDType "int8"|"uint8"|"int4"|"uint4"|"fp16"|"bf16"|"fp8_e4m3"|"fp8_e5m2"
---@alias qs.Numerics "torch"|"onnxruntime"
---@alias qs.LayerType "Linear"|"Conv"|"Conv1d"|"Conv2d"|"Conv3d"|"Embedding"|"Norm"|"Gemm"|"MatMul"
---@alias qs.ObserverKind "minmax"|"moving_average"|"per_channel"|"histogram"|"percentile"|"entropy"|"mse"
---@alias qs.Shape integer[]
---@alias qs.Selector string|fun(layer: qs.Layer): boolean
---@alias qs.DataLike qs.Data|qs.Tensor|qs.Tensor[]|table<string, qs.Tensor>|qs.Calibration

---@class qs
---@field observer qs.observer
---@field data qs.data
---@field gguf qs.gguf
---@field report qs.report
local qs = {}

-------------------------------------------------------------------------------
-- Tensors
-------------------------------------------------------------------------------

---@class qs.TensorOptions
---@field dtype? qs.DTypeName default "F32"
---@field shape? qs.Shape reshape a flat table

---@class qs.Tensor
---@operator len: integer
local Tensor = {}

---@return qs.Shape
function Tensor:shape() end
---@return string dtype "F32", "BF16", "I8", ...
function Tensor:dtype() end
---@return integer
function Tensor:numel() end
---@return integer
function Tensor:dim() end
---@return number
function Tensor:min() end
---@return number
function Tensor:max() end
---@return number
function Tensor:absmax() end
---@return number
function Tensor:mean() end
---Unbiased (n-1) standard deviation, like torch.std.
---@return number
function Tensor:std() end
---@return number
function Tensor:sum() end
---A converted copy: floats round to nearest even, integers round half to even and saturate.
---@param dtype qs.DTypeName
---@return qs.Tensor
function Tensor:to(dtype) end
---@param shape qs.Shape
---@return qs.Tensor
function Tensor:reshape(shape) end
---@class qs.TensorQuantizeOptions
---@field dtype? qs.QDType default "int8"
---@field symmetric? boolean default true for signed dtypes, false for unsigned
---@field per_channel? boolean default false
---@field axis? integer default 0 (with per_channel)
---@field group_size? integer one scale per group along the last dimension
---@field reduce_range? boolean default false
---@field numerics? qs.Numerics default "torch"

---@param opts? qs.TensorQuantizeOptions
---@return qs.QTensor
function Tensor:quantize(opts) end
---One element by its full index (from 1; negative from the end).
---@param ... integer
---@return number
function Tensor:get(...) end
---@return number
function Tensor:item() end
---@return table nested tables of numbers
function Tensor:table() end

---@param data number|table nested table of numbers, or a flat one with opts.shape
---@param opts? qs.TensorOptions
---@return qs.Tensor
function qs.tensor(data, opts) end
---@param shape qs.Shape|integer
---@param opts? {dtype?: qs.DTypeName}
---@return qs.Tensor
function qs.zeros(shape, opts) end
---@param shape qs.Shape|integer
---@param opts? {dtype?: qs.DTypeName}
---@return qs.Tensor
function qs.ones(shape, opts) end
---Standard normal values from a seeded generator (the same seed gives the same tensor).
---@param shape qs.Shape|integer
---@param opts? {seed?: integer, dtype?: qs.DTypeName}
---@return qs.Tensor
function qs.randn(shape, opts) end
---10*log10(sum x^2 / sum (x-y)^2) in dB; 1/0 when equal.
---@param ref qs.Tensor|qs.QTensor
---@param approx qs.Tensor|qs.QTensor
---@return number
function qs.sqnr(ref, approx) end
---@param ref qs.Tensor|qs.QTensor
---@param approx qs.Tensor|qs.QTensor
---@return number
function qs.mse(ref, approx) end
---@param ref qs.Tensor|qs.QTensor
---@param approx qs.Tensor|qs.QTensor
---@return number
function qs.cosine(ref, approx) end

---@class qs.QParams
---@field scale number|number[] a number per tensor, a list per channel or group
---@field zero_point integer|integer[]
---@field dtype qs.QDType
---@field symmetric boolean
---@field reduce_range boolean
---@field numerics qs.Numerics
---@field granularity string "per_tensor", "per_channel(axis=0)", "per_group(128)"
---@field axis? integer
---@field group_size? integer
---@field qmin integer
---@field qmax integer

---@class qs.QTensor
local QTensor = {}
---@return qs.Tensor
function QTensor:dequantize() end
---@return qs.Tensor
function QTensor:codes() end
---@return number|number[]
function QTensor:scale() end
---@return integer|integer[]
function QTensor:zero_point() end
---@return qs.QParams
function QTensor:qparams() end
---@return qs.Shape
function QTensor:shape() end
---@return qs.QDType
function QTensor:dtype() end
---@return integer
function QTensor:numel() end

-------------------------------------------------------------------------------
-- Observers
-------------------------------------------------------------------------------

---@class qs.SchemeOptions
---@field dtype? qs.QDType default "uint8"
---@field symmetric? boolean default true for signed dtypes, false for unsigned
---@field reduce_range? boolean default false
---@field numerics? qs.Numerics default "torch"

---@class qs.Observer
local Observer = {}
---@param t qs.Tensor|number[]
---@return qs.Observer self
function Observer:observe(t) end
---@return qs.QParams
function Observer:qparams() end
---@return number|number[] min
---@return number|number[] max
function Observer:range() end
---@return qs.ObserverKind
function Observer:kind() end

---@class qs.observer
qs.observer = {}
---@param opts? qs.SchemeOptions
---@return qs.Observer
function qs.observer.minmax(opts) end
---@param opts? qs.SchemeOptions|{c?: number}
---@return qs.Observer
function qs.observer.moving_average(opts) end
---@param opts? qs.SchemeOptions|{axis?: integer}
---@return qs.Observer
function qs.observer.per_channel(opts) end
---@param opts? qs.SchemeOptions|{bins?: integer, upsample_rate?: integer}
---@return qs.Observer
function qs.observer.histogram(opts) end
---@param opts? qs.SchemeOptions|{percentile?: number, bins?: integer, signed?: boolean}
---@return qs.Observer
function qs.observer.percentile(opts) end
---@param opts? qs.SchemeOptions|{bins?: integer, quantized_bins?: integer}
---@return qs.Observer
function qs.observer.entropy(opts) end
---@param opts? qs.SchemeOptions|{bins?: integer, grid?: integer, max_shrink?: number, norm?: number}
---@return qs.Observer
function qs.observer.mse(opts) end

-------------------------------------------------------------------------------
-- Models
-------------------------------------------------------------------------------

---@class qs.TensorInfo
---@field name string
---@field dtype string
---@field shape qs.Shape

---@class qs.Layer
---@field name string layer name ("fc1", or the ONNX node name "/fc1/Gemm")
---@field type qs.LayerType
---@field weight string weight tensor name
---@field bias? string bias tensor name
---@field shape qs.Shape
---@field dtype string
---@field index integer position in model order, from 1
---@field quantized? boolean (q:layers() only)
---@field reason? string why the layer stays float (q:layers() only)

---@class qs.ModelInfo
---@field path string
---@field format string
---@field tensors integer
---@field bytes integer
---@field dtypes table<string, integer>
---@field layers integer
---@field metadata table<string, string>
---@field quantization? string JSON
---@field quantization_config? string JSON

---@class qs.Model
---@field path string
---@field format string
local Model = {}
---@return qs.TensorInfo[]
function Model:tensors() end
---@param name string
---@return qs.Tensor
function Model:get(name) end
---@param type? qs.LayerType
---@return qs.Layer[]
function Model:layers(type) end
---@param name string first_conv, last_conv, first_linear or last_linear
---@return qs.Layer|nil layer nil for another name
---@return string|nil err "first_conv: the model has no Conv layer"
function Model:shortcut(name) end
---@return qs.ModelInfo
function Model:info() end

---Opens a checkpoint (.safetensors, .safetensors.index.json, .pt/.pth/.bin, .onnx, .npz, .npy).
---@param path string
---@param opts? {types?: table<string, qs.LayerType>}
---@return qs.Model
function qs.load(path, opts) end

-------------------------------------------------------------------------------
-- Quantize, config, calibrate
-------------------------------------------------------------------------------

---@class qs.WeightOptions
---@field dtype? qs.WeightDType default "int8"
---@field per_channel? boolean default true
---@field symmetric? boolean default true
---@field group_size? integer default 128 for int4/uint4; -1 for no groups

---@class qs.ActivationOptions
---@field calibrate qs.DataLike|fun(i: integer): (qs.Tensor|table<string, qs.Tensor>|nil) a function gives sample i, nil after the last
---@field samples? integer default 150
---@field observer? "histogram"|"minmax"|"moving_average"|"percentile"|"entropy"|"mse" default "histogram"
---@field dtype? "uint8"|"int8" default "uint8"
---@field symmetric? boolean default false
---@field reduce_range? boolean default false
---@field percentile? number default 99.999
---@field batch_size? integer default: chosen from max_memory
---@field max_memory? integer bytes, default 1 GiB
---@field batch_axis? table<string, integer> input name = axis samples are stacked on (-1: fed as it is)
---@field state? {out: string, into: string}|{out: string, into: string}[] recurrent state carried run to run
---@field check? boolean default true: measure output SQNR and each node's damage, and warn
---@field min_sqnr? number dB: keep the most damaging nodes float until the output SQNR reaches it
---@field progress? boolean default: when >= 50 samples and stderr is a terminal

---@class qs.QuantizeOptions
---@field weights? qs.WeightOptions
---@field layers? qs.LayerType[] default {"Linear", "Conv"}
---@field skip? qs.Selector[]|qs.Selector names, globs, "re:" expressions, first_conv/last_conv/first_linear/last_linear, predicates
---@field include? qs.Selector[]|qs.Selector only these layers; a causal LM's lm_head only when named exactly
---@field layer_types? table<string, qs.LayerType>
---@field numerics? qs.Numerics default "torch"
---@field activations? qs.ActivationOptions static quantization of an ONNX model

---@class qs.Eval
---@field samples integer
---@field output_sqnr_db number
---@field top1_agreement number
---@field float_accuracy? number
---@field quant_accuracy? number

---@class qs.Quantized
---@field source qs.Model
---@field path string
local Quantized = {}
---@return qs.Report
function Quantized:report() end
---@return qs.Layer[]
function Quantized:layers() end
---@return string
function Quantized:scheme() end
---@return string[]
function Quantized:warnings() end
---Static plans only: runs the float and quantized graphs on held-out data.
---@param data qs.DataLike
---@param opts? {samples?: integer, batch_size?: integer}
---@return qs.Eval
function Quantized:evaluate(data, opts) end
---Static plans only: measures the output SQNR and each node's own damage on a few samples,
---warns, and with min_sqnr (or eval and max_drop) keeps the most damaging nodes in float.
---@param data qs.DataLike
---@param opts? {samples?: integer, min_sqnr?: number, eval?: qs.DataLike, max_drop?: number, batch_axis?: table<string, integer>, state?: table}
---@return table
function Quantized:check(data, opts) end

---Plans the quantization of a loaded model; q:report() and qs.save do the work.
---@param model qs.Model
---@param opts? qs.QuantizeOptions
---@return qs.Quantized
function qs.quantize(model, opts) end

---Recipe-level defaults for qs.quantize (call > config > defaults).
---@param opts qs.QuantizeOptions
function qs.config(opts) end

---@class qs.CalibratedActivation
---@field name string
---@field min number
---@field max number
---@field clip_min number
---@field clip_max number
---@field scale number
---@field zero_point integer
---@field consumers string[]

---@class qs.Calibration
---@field samples integer
---@field observer string
---@field source string
---@field warnings string[]
---@field activations qs.CalibratedActivation[]

---@param model qs.Model an ONNX model
---@param data qs.DataLike
---@param opts? qs.ActivationOptions without calibrate
---@return qs.Calibration
function qs.calibrate(model, data, opts) end

---@class qs.FolderOverride
---@field targets string[] exact module names, "re:" regexes or class names
---@field scheme string a preset (W8A16, W4A16, W4A16_ASYM, W8A8, FP8_DYNAMIC, W8A16_FP8)
---@field group_size? integer

---@class qs.FolderOptions
---@field model string a Hugging Face model folder
---@field out string the compressed-tensors folder to write
---@field scheme? string preset of the default group (default "W4A16")
---@field group_size? integer columns per scale for integer weights (-1: per channel)
---@field targets? string[] default group's targets (default {"Linear"})
---@field ignore? string[] modules kept in full precision (lm_head of a causal LM is added)
---@field overrides? qs.FolderOverride[] mixed precision: one config group each
---@field max_shard_size? string default "5GB"
---@field overwrite? boolean replace a folder qscript wrote before (only its files)
---@field numerics? "compressed-tensors"
---@field progress? boolean bar on a terminal (default true; never under -q)

---@class qs.FolderResult
---@field output string
---@field shards string[]
---@field copied string[]
---@field ignored string[]
---@field quantized integer
---@field formats string[]
---@field in_bytes integer
---@field out_bytes integer
---@field groups table[] {name, scheme, format, layers, mean_sqnr_db, min_sqnr_db}
---@field worst table[] the 10 layers of lowest SQNR: {layer, scheme, sqnr_db}
---@field summary string
---@field report qs.Report worst layers and totals per config group first at LLM scale

---Quantizes a Hugging Face model folder into a compressed-tensors folder (vLLM, transformers).
---@param opts qs.FolderOptions
---@return qs.FolderResult
function qs.quantize_folder(opts) end

-------------------------------------------------------------------------------
-- Data
-------------------------------------------------------------------------------

---@class qs.Data
---@field name string
---@field has_target boolean
---@operator len: integer
local Data = {}
---@return integer samples, -1 when unknown
function Data:len() end
---@return qs.TensorInfo[]
function Data:inputs() end
---@param n integer
---@return qs.Data
function Data:limit(n) end
---Reads up to n samples: the input (a table of name = tensor for several inputs) and the target.
---@param n integer
---@return qs.Tensor|table<string, qs.Tensor> input
---@return qs.Tensor|nil target
function Data:take(n) end

---@class qs.data
qs.data = {}
---@param path string
---@param opts? {batch?: integer}
---@return qs.Data
function qs.data.npy(path, opts) end
---@param path string
---@param opts? {input?: string, label?: string, batch?: integer}
---@return qs.Data
function qs.data.npz(path, opts) end
---@param path string
---@param opts? {input?: string, label?: string, batch?: integer}
---@return qs.Data
function qs.data.safetensors(path, opts) end
---@param dir string
---@param opts {size: integer, crop?: integer, mean?: number|number[], std?: number|number[], layout?: "NCHW"|"NHWC", gray?: boolean, batch?: integer}
---@return qs.Data
function qs.data.images(dir, opts) end
---One sample per .npy or .npz file of a folder (arrays without a sample axis).
---@param dir string
---@param opts? {input?: string, label?: string, batch?: integer}
---@return qs.Data
function qs.data.folder(dir, opts) end
---@param inputs qs.Tensor|table<string, qs.Tensor>
---@param opts? {target?: qs.Tensor, batch?: integer}
---@return qs.Data
function qs.data.tensors(inputs, opts) end

-------------------------------------------------------------------------------
-- Reports
-------------------------------------------------------------------------------

---@class qs.ReportLayer
---@field name string
---@field type string
---@field shape qs.Shape
---@field dtype string
---@field qdtype string
---@field granularity string
---@field quantized boolean
---@field reason? string
---@field no_weight boolean true for a quantized layer that stores no weight (an ONNX MatMul of two activations); its weight figures are nil
---@field scale_min? number
---@field scale_max? number
---@field sqnr_db? number
---@field mse? number
---@field max_abs_err? number
---@field cosine? number
---@field bytes_before integer
---@field bytes_after integer

---@class qs.ReportActivation
---@field name string
---@field observer string
---@field min number
---@field max number
---@field scale number
---@field zero_point integer
---@field qdtype string

---@class qs.Totals
---@field layers integer
---@field quantized integer
---@field skipped integer
---@field bytes_before integer
---@field bytes_after integer
---@field ratio number

---@class qs.Report
---@field title string
---@field input string
---@field output string
---@field scheme string
---@field layers qs.ReportLayer[]
---@field activations qs.ReportActivation[]
---@field totals qs.Totals
---@field eval? qs.Eval
---@field warnings string[]
---@field changes? string what changed since the last run (watch mode)
local Report = {}
---@param path string
---@return qs.Report self
function Report:json(path) end
---@param path string
---@return qs.Report self
function Report:html(path) end
---@param other qs.Report
---@return string
function Report:diff(other) end

---@class qs.report
qs.report = {}
---@param old qs.Report
---@param new qs.Report
---@return string
function qs.report.diff(old, new) end
---@param path string a report written by r:json
---@return qs.Report
function qs.report.read(path) end

-------------------------------------------------------------------------------
-- Save
-------------------------------------------------------------------------------

---@class qs.SaveOptions
---@field format? "safetensors"|"pt"|"onnx" default: from the extension
---@field layout? "compressed"|"fake" default "compressed"
---@field metadata? table<string, string>
---@field config? string a config.json to copy beside the output with quantization_config
---@field onnx? qs.ONNXSaveOptions .onnx output of a weight-only plan of an ONNX model (docs/onnx-output.md)

---@class qs.ONNXSaveOptions
---@field keep_io_types? boolean fp16: float32 graph inputs and outputs behind Casts (default true)
---@field bf16_compute? boolean bf16: convert the computation too, as fp16 does (default false: bf16 weights behind Casts)
---@field op_block_list? string[] fp16: ops kept float32 (default float16.py's DEFAULT_OP_BLOCK_LIST)
---@field reduce_range? boolean int8: 7-bit weights, as quantize_dynamic's reduce_range (default false)
---@field int4_form? "matmulnbits"|"dequantizelinear" default "matmulnbits"
---@field accuracy_level? integer MatMulNBits accuracy_level 0..4 (default: unset)
---@field method? "rtn"|"gptq" 4-bit codes: round to nearest (default) or GPTQ
---@field calib? qs.Data GPTQ calibration data
---@field samples? integer GPTQ calibration samples (default 128)
---@field heldout? integer samples after them that compare RTN and GPTQ per layer (default 0)
---@field percdamp? number GPTQ dampening as a fraction of the mean Hessian diagonal (default 0.01)
---@field act_order? boolean GPTQ columns by decreasing Hessian diagonal (default false)
---@field block_size? integer GPTQ column block (default 128)

---Writes a quantized model (or a loaded one, unchanged) atomically; returns path.
---@param model qs.Quantized|qs.Model
---@param path string
---@param opts? qs.SaveOptions
---@return string
function qs.save(model, path, opts) end

---Prints "note: text" on stderr, unless qscript runs with -q.
---@param text string
function qs.note(text) end

---Raises a usage error: like error(message, level), but qscript exits with 2 (usage), not 1.
---For a recipe's wrong key=value argument. The error value is a userdata; tostring gives the message.
---@param message string
---@param level? integer 1 (default): the position of the function that calls it; 2: its caller's; 0: none
function qs.usage_error(message, level) end

-------------------------------------------------------------------------------
-- GGUF (llama.cpp, ollama)
-------------------------------------------------------------------------------

---@class qs.GGUFOptions
---@field type? string a llama-quantize file type: "Q8_0" (default), "Q4_K_M", "F16", ...
---@field override? string|string[] per-tensor types, "PATTERN=TYPE" (regex searched in the name)
---@field imatrix? string an importance matrix from llama-imatrix (.gguf or legacy .dat)
---@field pure? boolean no mix rules (llama-quantize --pure); default false

---@class qs.GGUFTensor
---@field name string
---@field dims integer[] ggml order (row length first)
---@field from string stored type in the input
---@field to string type written
---@field bytes_before integer
---@field bytes_after integer

---@class qs.GGUFReport
---@field output string
---@field type string
---@field bytes_before integer
---@field bytes_after integer
---@field tensors qs.GGUFTensor[]

---@class qs.gguf
qs.gguf = {}
---Converts a Hugging Face Llama/Mistral/Qwen2 folder, or an F32/F16/BF16 .gguf, to a GGUF
---file at a llama-quantize file type, streaming; tostring(report) is the per-tensor summary.
---@param src string
---@param out string
---@param opts? qs.GGUFOptions
---@return qs.GGUFReport
function qs.gguf.convert(src, out, opts) end

return qs
