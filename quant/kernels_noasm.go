//go:build !amd64 || purego

package quant

// Without the amd64 assembly the pure-Go loops do all the work.

var haveAVX2, haveF16C = false, false

func minMaxPrefix(x []float32) (lo, hi float32, done int, nan bool) { return 0, 0, 0, false }

func quantizeBytesPrefix[T Code](dst []T, src []float32, a *affine) (done int, bad bool) {
	return 0, false
}

func f32ToF16Prefix(dst []uint16, src []float32) int  { return 0 }
func f16ToF32Prefix(dst []float32, src []uint16) int  { return 0 }
func f32ToBF16Prefix(dst []uint16, src []float32) int { return 0 }
func bf16ToF32Prefix(dst []float32, src []uint16) int { return 0 }

func f32ToF8E4M3Prefix(dst []uint8, src []float32) int { return 0 }
func f32ToF8E5M2Prefix(dst []uint8, src []float32) int { return 0 }

func scaledFP8Prefix(dst []uint8, src []float32, s, lo, hi float32, e5m2 bool) int { return 0 }

func packInt4Prefix(dst []int32, src []int8) (done int, ok bool) { return 0, true }

func groupsMinMax(lo, hi, x []float32, size int) bool { return false }

func quantizeGroupsI8(dst []int8, src []float32, size int, k []groupAffine) (done, finite bool) {
	return false, true
}
