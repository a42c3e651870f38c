// Package tensor holds the Tensor type that every other qscript package passes around:
// a dtype, a shape, optional strides and little-endian bytes. It also converts between
// the float formats (f64, f32, f16, bf16, fp8 e4m3fn, fp8 e5m2) and float32.
package tensor
