package quant

// DivClampTo sets dst[i] = min(max(src[i]/s, lo), hi) in float32: the scaling step of
// fp8 weight quantization (compressed-tensors divides by the scale, then clamps to the
// format's range). The AVX2 kernel divides too (VDIVPS rounds as the scalar division), so
// every element equals the loop's for finite inputs. dst must be at least as long as src.
func DivClampTo(dst, src []float32, s, lo, hi float32) {
	dst = dst[:len(src)]
	done := divClampPrefix(dst, src, s, lo, hi)
	for i, v := range src[done:] {
		dst[done+i] = min(max(v/s, lo), hi)
	}
}
