//go:build !amd64 || purego

package sgemm

// asmKernels lists the assembly kernels this build can run: none without amd64 assembly.
func asmKernels() map[string]microKernel { return nil }
