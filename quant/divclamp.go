package quant

import (
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

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

// DivClampFP8To encodes min(max(src[i]/s, lo), hi) as dt (F8E4M3 or F8E5M2) into dst:
// DivClampTo and then F32ToF8E4M3To or F32ToF8E5M2To, with the same codes (the AVX2
// kernel runs both kernels' instructions on each vector), without storing the scaled
// values. It runs on the calling goroutine. dst must be at least as long as src.
func DivClampFP8To(dst []uint8, src []float32, s, lo, hi float32, dt tensor.DType) error {
	if dt != tensor.F8E4M3 && dt != tensor.F8E5M2 {
		return fmt.Errorf("quant: DivClampFP8To: %v is not an fp8 type", dt)
	}
	dst = dst[:len(src)]
	done := scaledFP8Prefix(dst, src, s, lo, hi, dt == tensor.F8E5M2)
	var buf [256]float32
	for i := done; i < len(src); i += len(buf) {
		n := min(len(buf), len(src)-i)
		DivClampTo(buf[:n], src[i:i+n], s, lo, hi)
		if dt == tensor.F8E5M2 {
			f32ToF8E5M2Block(dst[i:i+n], buf[:n])
		} else {
			f32ToF8E4M3Block(dst[i:i+n], buf[:n])
		}
	}
	return nil
}
