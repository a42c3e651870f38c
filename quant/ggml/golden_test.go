package ggml_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/quant/ggml/internal/golden"
)

// allTypes are the supported types in ggml.h order.
var allTypes = []ggml.Type{ggml.F32, ggml.F16, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1, ggml.Q8_0,
	ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.BF16}

// TestGolden compares every block with ggml's own ggml_quantize_chunk output for the cases
// of testdata (made by scripts/fixtures/ggml_quant.c from libggml-base.so; see
// scripts/fixtures/ggml_golden.sh), with and without an importance matrix, and
// DequantizeRows with ggml's dequantize_row_* of the same bytes.
func TestGolden(t *testing.T) {
	t.Run("asm", func(t *testing.T) { checkGolden(t) })
	t.Run("purego", func(t *testing.T) {
		defer ggml.UseAVX2(false)()
		checkGolden(t)
	})
}

func checkGolden(t *testing.T) {
	set, err := golden.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range allTypes {
		for _, imatrix := range []bool{false, true} {
			res, err := set.Check(typ, imatrix)
			if errors.Is(err, fs.ErrNotExist) && imatrix {
				continue // ggml ignores the imatrix for this type
			}
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if res.Identical != res.Blocks || res.Blocks == 0 {
				t.Errorf("%s imatrix=%v: %d of %d blocks identical to ggml's; first differences:", typ, imatrix, res.Identical, res.Blocks)
				for _, m := range res.Mismatches {
					t.Log("  " + m)
				}
			}
			t.Logf("%s imatrix=%v: %d of %d blocks identical; %d dequantized values checked", typ, imatrix, res.Identical, res.Blocks, res.DequantN)
			if res.Dequant != "" {
				t.Errorf("%s imatrix=%v: DequantizeRows differs from ggml's: %s", typ, imatrix, res.Dequant)
			}
		}
	}
}

// TestAsmMatchesPureGo runs the AVX2 and the pure-Go paths on the same random rows of
// several shapes and distributions (beyond the golden cases) and requires equal bytes.
func TestAsmMatchesPureGo(t *testing.T) {
	for _, cols := range []int{1024, 864} { // 864: a partial batch of eight blocks at the end
		asmMatchesPureGo(t, cols)
	}
}

func asmMatchesPureGo(t *testing.T, cols int) {
	rng := rand.New(rand.NewPCG(3, uint64(cols)))
	const rows = 8
	x := make([]float32, rows*cols)
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(math.Exp(2 * rng.NormFloat64()))
	}
	for trial, scale := range []float64{0.02, 1, 1e-30, 1e-39, 1e30} {
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
			if rng.IntN(50) == 0 {
				x[i] *= 40
			}
			if trial == 1 && i%cols < 100 {
				x[i] = float32(math.Abs(float64(x[i]))) // one-signed groups
			}
		}
		for _, typ := range allTypes {
			if cols%typ.BlockSize() != 0 {
				continue
			}
			for _, imatrix := range [][]float32{nil, im} {
				rs, _ := ggml.RowSize(typ, cols)
				a, b := make([]byte, rows*rs), make([]byte, rows*rs)
				if err := ggml.QuantizeRows(typ, a, x, rows, cols, imatrix); err != nil {
					t.Fatal(err)
				}
				restore := ggml.UseAVX2(false)
				err := ggml.QuantizeRows(typ, b, x, rows, cols, imatrix)
				restore()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%s cols %d scale %g imatrix %v: the AVX2 and pure-Go paths differ", typ, cols, scale, imatrix != nil)
				}
			}
		}
	}
}

// FuzzAsmMatchesPureGo feeds arbitrary float32 bit patterns (tiled to two rows of 256,
// with and without an importance vector from the same bytes) to every type and requires
// the AVX2 and pure-Go paths to agree: the same bytes, or the same error (NaN and ±Inf
// are refused), and no panic.
func FuzzAsmMatchesPureGo(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0})                   // 1, -2
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0x7f, 0x7f, 0, 0, 0, 0x80}) // subnormal, max, -0
	f.Add([]byte{0, 0, 0xc0, 0x7f})                                  // NaN
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		const rows, cols = 2, 256
		x := make([]float32, rows*cols)
		n := len(data) / 4
		for i := range x {
			j := 4 * (i % n)
			x[i] = math.Float32frombits(uint32(data[j]) | uint32(data[j+1])<<8 | uint32(data[j+2])<<16 | uint32(data[j+3])<<24)
		}
		im := make([]float32, cols)
		for i := range im {
			im[i] = float32(math.Abs(float64(x[(7*i+3)%len(x)])))
			if im[i]-im[i] != 0 {
				im[i] = 1
			}
		}
		for _, typ := range allTypes {
			for _, imatrix := range [][]float32{nil, im} {
				rs, _ := ggml.RowSize(typ, cols)
				a, b := make([]byte, rows*rs), make([]byte, rows*rs)
				errA := ggml.QuantizeRows(typ, a, x, rows, cols, imatrix)
				restore := ggml.UseAVX2(false)
				errB := ggml.QuantizeRows(typ, b, x, rows, cols, imatrix)
				restore()
				if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
					t.Fatalf("%s: errors differ: %v / %v", typ, errA, errB)
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("%s imatrix %v: the AVX2 and pure-Go paths differ", typ, imatrix != nil)
				}
			}
		}
	})
}
