// Package ggml is qscript's copy of ggml's quantization kernels: the block formats that
// llama.cpp and ollama read from GGUF files (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
// and the k-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), written block for block and bit for bit
// as ggml's ggml_quantize_chunk writes them.
//
// Bit-identical means the same float32 operations in the same order: ggml's C is compiled
// for baseline x86-64 (SSE2, no fused multiply-add, no fast-math), so every product and
// sum here is a float32 operation rounded on its own; explicit float32 conversions keep
// Go from fusing a*b+c on the architectures where it may. The k-quants' iterative scale
// searches (make_qx_quants, make_q3_quants, make_qkx2_quants, make_qkx3_quants,
// make_qp_quants in ggml-quants.c), nearest_int's 1.5*2^23 rounding trick and ggml's
// software fp32->fp16 conversion are reproduced exactly, including the separate code path
// that ggml takes when an importance matrix (quant_weights) is given.
//
// Rows are independent, so QuantizeRows splits them over GOMAXPROCS workers above a size
// threshold; each row is quantized as ggml quantizes it whatever the split.
//
// On amd64 with AVX2 the searches run eight at a time without changing a bit: each vector
// lane runs one group's (or one candidate scale's) scalar algorithm, with the same float32
// operations in the same order, and choices that ggml makes in sequence (keep the best
// candidate so far) become per-lane blends. The pure-Go loops remain for other CPUs and
// the purego build tag; the tests run both against the same golden bytes, and a fuzz
// target requires them to agree on arbitrary input.
//
// Inputs with NaN or ±Inf are refused with a *quant.NonFiniteError: ggml would write
// blocks that llama-quantize's ggml_validate_row_data then rejects.
//
// The golden fixtures in testdata come from ggml itself (libggml-base.so of the npm package
// @node-llama-cpp/linux-x64, via scripts/fixtures/ggml_quant.c); interop/35-ggml-quant.sh
// rechecks every byte on fresh random matrices.
package ggml
