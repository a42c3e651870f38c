// Package llm turns a Hugging Face model folder into a compressed-tensors folder that
// transformers' from_pretrained and vLLM load as they are: the llm-compressor presets
// (W8A16, W4A16, W4A16_ASYM, W8A8, FP8_DYNAMIC, and W8A16_FP8 for fp8 weights alone),
// several schemes in one model as config groups, codes, scales and zero points computed
// with compressed-tensors' own numerics (quant.CTQuantize), and a folder written the way
// transformers writes one (shards of at most max_shard_size, model.safetensors.index.json,
// config.json with quantization_config, every other file copied).
//
//	p, err := llm.Plan(folder, llm.Options{Scheme: "W4A16"})   // reads no tensor data
//	res, err := p.Write(ctx, "out/", llm.WriteOptions{})        // streams tensor by tensor
//
// Targets, ignore entries and overrides use compressed-tensors' syntax: a module's exact
// name ("model.layers.0.mlp.down_proj"), "re:" and a Python-style regular expression
// matched at the start of the name ("re:.*down_proj"), or a class name ("Linear"). When a
// module matches several groups, compressed-tensors' priority decides: exact names, then
// regular expressions (each kind in sorted order), then class names.
//
// The output folder appears whole or not at all: it is built in a temporary folder beside
// it and renamed. An existing folder is replaced only with Overwrite, only when qscript
// wrote it (its .qscript-manifest.json lists every file qscript wrote), and then only
// those files are replaced; the input folder is never written into.
package llm
