// Package hf reads a Hugging Face model folder as transformers' from_pretrained finds
// it: config.json, and the weights in the first of model.safetensors,
// model.safetensors.index.json (shards), pytorch_model.bin and
// pytorch_model.bin.index.json (shards) that exists. The folder's tensors are one
// formats.Model whatever the layout; the config is kept as parsed JSON so that writers
// can extend it without changing the meaning of any other key.
//
// The folder is only read. Shard names in an index must be plain file names in the
// folder; every error names the file it is about.
package hf
