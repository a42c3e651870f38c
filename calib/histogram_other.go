//go:build !amd64 || purego

package calib

var haveAVX2 = false

func displayBinsPrefix(dst []int32, x []float32, inv float64) (done, kept int) { return 0, 0 }

func float32Bins(inv float64) bool { return false }

func displayBinsExtremes(dst []int32, x []float32, inv float64, acc *extremes) (done, kept int) {
	return 0, 0
}
