package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// Benchmarks report GB/s of float32 input (b.SetBytes is the input size). The 4096×4096
// shape is a square projection; 11008×4096 is Llama-7B's MLP up/gate projection.

var benchShapes = []struct {
	name       string
	rows, cols int
}{
	{"4096x4096", 4096, 4096},
	{"11008x4096", 11008, 4096},
}

func benchWeights(rows, cols int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * 0.02
	}
	return tensor.FromF32([]int{rows, cols}, x)
}

func benchEach(b *testing.B, f func(b *testing.B, w *tensor.Tensor)) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			if testing.Short() && s.rows > 4096 {
				b.Skip("short")
			}
			w := benchWeights(s.rows, s.cols)
			b.SetBytes(int64(4 * w.Numel()))
			b.ResetTimer()
			f(b, w)
		})
	}
}

// BenchmarkInt8PerChannel is the first target: PerChannelMinMax observation plus
// quantize, qint8 symmetric, fused.
func BenchmarkInt8PerChannel(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		for i := 0; i < b.N; i++ {
			if _, _, err := ChooseAndQuantize(w, Scheme{QType: QInt8, Symmetric: true}, PerChannel(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInt8PerChannelObserverThenQuantize runs the observer and Quantize as two
// passes, the way a recipe that inspects the qparams in between would.
func BenchmarkInt8PerChannelObserverThenQuantize(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		for i := 0; i < b.N; i++ {
			o := NewPerChannelMinMax(Scheme{QType: QInt8, Symmetric: true}, 0)
			if err := o.Observe(w); err != nil {
				b.Fatal(err)
			}
			p, err := o.QParams()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Quantize(w, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkInt8PerTensorORT(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		for i := 0; i < b.N; i++ {
			if _, _, err := ChooseAndQuantize(w, Scheme{QType: QUInt8, Numerics: ORT}, PerTensor()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDequantizeInt8PerChannel(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		q, p, err := ChooseAndQuantize(w, Scheme{QType: QInt8, Symmetric: true}, PerChannel(0))
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := Dequantize(q, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCastF16(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		dst := make([]uint16, w.Numel())
		for i := 0; i < b.N; i++ {
			if err := F32ToF16To(dst, w.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCastBF16(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		dst := make([]uint16, w.Numel())
		for i := 0; i < b.N; i++ {
			if err := F32ToBF16To(dst, w.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCastF16Tensor includes allocating the output tensor, as a whole-model cast does.
func BenchmarkCastF16Tensor(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		for i := 0; i < b.N; i++ {
			if _, err := Cast(w, tensor.F16); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCastF8E4M3(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		dst := make([]uint8, w.Numel())
		for i := 0; i < b.N; i++ {
			if err := F32ToF8E4M3To(dst, w.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCastF8E5M2(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		dst := make([]uint8, w.Numel())
		for i := 0; i < b.N; i++ {
			if err := F32ToF8E5M2To(dst, w.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCastF8E4M3ToF32 and BenchmarkCastF8E5M2ToF32 decode; SetBytes counts the
// float32 output, so the figures compare with the encoders'.
func BenchmarkCastF8E4M3ToF32(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		codes := make([]uint8, w.Numel())
		if err := F32ToF8E4M3To(codes, w.F32()); err != nil {
			b.Fatal(err)
		}
		dst := make([]float32, w.Numel())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := F8E4M3ToF32To(dst, codes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCastF8E5M2ToF32(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		codes := make([]uint8, w.Numel())
		if err := F32ToF8E5M2To(codes, w.F32()); err != nil {
			b.Fatal(err)
		}
		dst := make([]float32, w.Numel())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := F8E5M2ToF32To(dst, codes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInt4Group128Packed is the third target: int4 symmetric, group 128,
// observed, quantized and packed into compressed-tensors words, with the kernels the
// streaming save runs (QuantizeGroupsTo, then PackInt4WordsTo).
func BenchmarkInt4Group128Packed(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		rows, cols := w.Shape[0], w.Shape[1]
		groups := rows * ((cols + DefaultGroupSize - 1) / DefaultGroupSize)
		codes, words := make([]int8, rows*cols), make([]int32, rows*((cols+7)/8))
		scale, zp := make([]float32, groups), make([]int32, groups)
		for i := 0; i < b.N; i++ {
			err := QuantizeGroupsTo(codes, scale, zp, w.F32(), cols, DefaultGroupSize, Scheme{QType: Int4, Symmetric: true}, 0, nil)
			if err == nil {
				err = PackInt4WordsTo(words, codes, cols)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMinMax(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		for i := 0; i < b.N; i++ {
			if _, _, err := MinMaxOf(w.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCompare(b *testing.B) {
	benchEach(b, func(b *testing.B, w *tensor.Tensor) {
		y, err := CastRoundTrip(w, tensor.BF16)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := Compare(w.F32(), y.F32()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPackInt4Words packs int8 codes alone (input bytes are the codes).
func BenchmarkPackInt4Words(b *testing.B) {
	codes := make([]int8, 4096*4096)
	for i := range codes {
		codes[i] = int8(i%16 - 8)
	}
	dst := make([]int32, len(codes)/8)
	b.SetBytes(int64(len(codes)))
	for i := 0; i < b.N; i++ {
		if err := PackInt4WordsTo(dst, codes, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDivClampFP8 is fp8 weight quantization's scale, clamp and encode step on a
// block that stays in cache (GODEBUG=cpu.avx512f=off for the AVX2 kernel).
func BenchmarkDivClampFP8(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	dst := make([]uint8, len(x))
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		if err := DivClampFP8To(dst, x, 0.01, -448, 448, tensor.F8E4M3); err != nil {
			b.Fatal(err)
		}
	}
}
