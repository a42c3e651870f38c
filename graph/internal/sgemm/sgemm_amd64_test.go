//go:build amd64 && !purego

package sgemm

// asmKernels lists the assembly kernels this CPU can run, for tests and benchmarks.
func asmKernels() map[string]microKernel {
	ks := map[string]microKernel{}
	if hasAVX2Kernel {
		ks["avx2"] = avx2Kernel
	}
	if hasAVX512Kernel {
		ks["avx512x8"] = avx512Kernel8
	}
	if gemmKernel.narrow != nil {
		ks["selected"] = gemmKernel
	}
	return ks
}
