//go:build purego

package main

// puregoBuild: the pure-Go kernels run instead of the assembly ones (outputs_test.go).
const puregoBuild = true
