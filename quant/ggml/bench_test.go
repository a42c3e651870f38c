package ggml

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkQuantizeRows times each type on 256 rows of 4096 gaussian weights (4 MB of
// float32, counted by SetBytes so the figures read as input GB/s), on GOMAXPROCS workers,
// without and with an importance matrix.
func BenchmarkQuantizeRows(b *testing.B) {
	const rows, cols = 256, 4096
	rng := rand.New(rand.NewPCG(7, 7))
	x := gaussianRows(rng, rows*cols)
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(rng.ExpFloat64())
	}
	for _, typ := range supported {
		for _, imatrix := range [][]float32{nil, im} {
			if imatrix != nil && kernels[typ].cost < 2 {
				continue // ggml ignores the imatrix for F32, F16, BF16 and Q8_0
			}
			name := typ.String()
			if imatrix != nil {
				name += "/imatrix"
			}
			b.Run(name, func(b *testing.B) {
				rs, _ := RowSize(typ, cols)
				dst := make([]byte, rows*rs)
				b.SetBytes(4 * rows * cols)
				for b.Loop() {
					if err := QuantizeRows(typ, dst, x, rows, cols, imatrix); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDequantizeRows times the inverse, in GB/s of float32 output.
func BenchmarkDequantizeRows(b *testing.B) {
	const rows, cols = 256, 4096
	x := gaussianRows(rand.New(rand.NewPCG(7, 7)), rows*cols)
	y := make([]float32, rows*cols)
	for _, typ := range supported {
		b.Run(typ.String(), func(b *testing.B) {
			rs, _ := RowSize(typ, cols)
			q := make([]byte, rows*rs)
			if err := QuantizeRows(typ, q, x, rows, cols, nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * rows * cols)
			for b.Loop() {
				if err := DequantizeRows(typ, y, q, rows, cols); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
