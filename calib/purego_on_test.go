//go:build purego

package calib

// puregoBuild: the pure-Go kernels run instead of the assembly ones (golden_test.go).
const puregoBuild = true
