// Package sgemm multiplies float32 matrices for graph's MatMul, Gemm, Conv, ConvTranspose and
// recurrent ops: operands packed into panels (once, or in advance for constant weights), tiles
// of the product split over goroutines, and a micro-kernel per CPU (AVX-512F, AVX2/FMA
// assembly, or a portable Go one with -tags purego or off amd64), each tested against a
// float64 reference loop. RunRows reads B's rows in place at given offsets of one array (a
// convolution's shifted input) instead of packed panels, and Run does so for a B given
// with Operands.BRowOffsets (a 1×1 convolution's input planes), packing only the last
// partial panel; Operands' Fill, Residual and Act
// finish each tile of a product while it is in cache (a Conv's bias, residual Add and
// activation), with the same additions as the separate passes.
package sgemm
