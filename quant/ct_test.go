package quant_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// TestCTGolden checks CTQuantize and CTDequantize bit for bit against compressed-tensors'
// numerics as the torch port in scripts/fixtures/ct_reference.py computes them
// (quant/testdata/ct_golden.safetensors, made by scripts/fixtures/ct_golden.py).
func TestCTGolden(t *testing.T) {
	f, err := safetensors.OpenFile("testdata/ct_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemes := map[string]quant.CTArgs{
		"w8_channel":      {Bits: 8, Symmetric: true},
		"w8_channel_asym": {Bits: 8},
		"w4_g32":          {Bits: 4, Symmetric: true, GroupSize: 32},
		"w4_g32_asym":     {Bits: 4, GroupSize: 32},
		"fp8_channel":     {Bits: 8, Float: true, Symmetric: true},
	}
	cases := 0
	for _, dt := range []string{"bf16", "f16", "f32"} {
		for scheme, a := range schemes {
			name := dt + "_" + scheme
			t.Run(name, func(t *testing.T) {
				load := func(s string) *tensor.Tensor {
					x, err := f.Load(name + "." + s)
					if err != nil {
						t.Fatal(err)
					}
					return x
				}
				w := load("w")
				rows, cols := w.Shape[0], w.Shape[1]
				var got quant.CTWeight
				if err := quant.CTQuantize(w.ToF32(), rows, cols, w.DType, a, &got); err != nil {
					t.Fatal(err)
				}
				wantScale := load("scale").ToF32()
				if !bitsEqual(got.Scale, wantScale) {
					t.Errorf("scales differ:\n got %v\nwant %v", got.Scale, wantScale)
				}
				if !slices.Equal(got.ZeroPoint, load("zp").I8()) {
					t.Errorf("zero points differ:\n got %v\nwant %v", got.ZeroPoint, load("zp").I8())
				}
				if a.Float {
					if !slices.Equal(got.FP8, load("codes").U8()) {
						t.Errorf("fp8 codes differ")
					}
				} else if want := load("codes").I8(); !slices.Equal(got.Codes, want) {
					t.Errorf("codes differ at %s", firstDiff(got.Codes, want))
				}
				if !a.Float {
					words := make([]int32, rows*quant.CTWords(cols, a.Bits))
					if err := quant.PackCTWords(words, got.Codes, cols, a.Bits); err != nil {
						t.Fatal(err)
					}
					if want := load("packed").I32(); !slices.Equal(words, want) {
						t.Errorf("packed words differ at %s", firstDiff(words, want))
					}
				}
				if !a.Float && !a.Symmetric {
					zp, err := quant.PackCTZeroPoints(got.ZeroPoint, rows, len(got.Scale)/rows, a.Bits)
					if err != nil {
						t.Fatal(err)
					}
					if want := load("zp_packed").I32(); !slices.Equal(zp, want) {
						t.Errorf("packed zero points differ at %s", firstDiff(zp, want))
					}
				}
				deq := make([]float32, rows*cols)
				if err := quant.CTDequantize(deq, &got, rows, cols, w.DType); err != nil {
					t.Fatal(err)
				}
				if want := load("deq").ToF32(); !bitsEqual(deq, want) {
					t.Errorf("dequantized weights differ at %s", firstDiff(deq, want))
				}
			})
			cases++
		}
	}
	if cases != 15 {
		t.Fatalf("%d cases", cases)
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func firstDiff[T comparable](a, b []T) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d (got %v, want %v)", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d, %d", len(a), len(b))
}

func TestCTRefusesPartialGroups(t *testing.T) {
	var out quant.CTWeight
	err := quant.CTQuantize(make([]float32, 2*48), 2, 48, tensor.BF16, quant.CTArgs{Bits: 4, Symmetric: true, GroupSize: 32}, &out)
	if err == nil {
		t.Fatal("48 columns in groups of 32 accepted")
	}
	w := []float32{1, float32(math.NaN())}
	if err := quant.CTQuantize(w, 1, 2, tensor.F32, quant.CTArgs{Bits: 8, Symmetric: true}, &out); err == nil {
		t.Fatal("NaN accepted")
	}
}
