// Package safetensors reads and writes the safetensors format: an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the
// raw little-endian data.
//
// Readers treat the file as hostile. The header is parsed first (bounded by MaxHeaderSize,
// duplicate names rejected) and then validated: every dtype known, every byte range exactly
// shape×dtype long, ranges contiguous, non-overlapping and inside the file. Data is read
// only by Load, from a memory map when OpenFile could make one. The Writer streams one
// tensor at a time into an atomically committed file.
package safetensors
