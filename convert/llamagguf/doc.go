// Package llamagguf turns a Hugging Face Llama-family model folder (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM) into a GGUF file that llama.cpp and ollama load,
// in one streaming pass, at one of llama-quantize's file types (F16, Q8_0, Q4_K_M, ...).
// It also requantizes an F32/F16/BF16 GGUF file.
//
// It writes what convert_hf_to_gguf.py writes (tensor names, the q/k row permutation of
// Llama's rotary layout, hyperparameters under llama.* or qwen2.*, the tokenizer from
// tokenizer.json) and picks each tensor's type as llama-quantize's llama_tensor_get_type
// does for the mix, with --tensor-type style overrides and an optional importance matrix.
// The kernels are quant/ggml's; the file format is formats/gguf's.
//
// Memory stays bounded: tensors are converted one at a time, in chunks of rows, and the
// GGUF header, whose offsets are known before any data is read, is written first.
package llamagguf
