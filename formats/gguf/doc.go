// Package gguf reads and writes GGUF version 3, the file format of llama.cpp and ollama: a
// header of typed key/value metadata and tensor descriptions (name, ggml type, dimensions,
// offset), then the tensor data, each tensor aligned to general.alignment (32 by default).
//
// The reader treats the file as hostile, with the checks ggml's own gguf.cpp makes and a few
// more: every count and string length is bounded by the bytes left in the file before
// anything is allocated, nested arrays are limited in depth, sizes are computed with overflow
// checks, and tensor offsets must be where ggml expects them (in order, each padded to the
// alignment) and inside the file. Tensor data is read only on request, through Section.
//
// The Writer streams: Create computes every offset and writes the whole header first, then
// tensor data is written in order, one tensor (or one chunk of rows) at a time, into an
// atomically committed file.
package gguf
