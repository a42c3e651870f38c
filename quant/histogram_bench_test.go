package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// activation1M is a 1M-element float32 activation, as one calibration batch.
func activation1M() *tensor.Tensor {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 2
	}
	return tensor.FromF32([]int{len(x)}, x)
}

func benchmarkObserve(b *testing.B, o Observer) {
	in := activation1M()
	if err := o.Observe(in); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * in.Numel()))
	b.ResetTimer()
	for range b.N {
		if err := o.Observe(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	benchmarkObserve(b, NewHistogram(Scheme{QType: QUInt8, ReduceRange: true}))
}

func BenchmarkPercentileObserve(b *testing.B) {
	benchmarkObserve(b, NewPercentile(Scheme{QType: QInt8, Symmetric: true}, 0))
}

func BenchmarkEntropyObserve(b *testing.B) {
	benchmarkObserve(b, NewEntropy(Scheme{QType: QInt8, Symmetric: true}))
}

func BenchmarkMSEObserve(b *testing.B) {
	benchmarkObserve(b, NewMSE(Scheme{QType: QInt8, Symmetric: true}))
}

// BenchmarkHistogramQParams measures torch's search on a full histogram.
func BenchmarkHistogramQParams(b *testing.B) {
	h := NewHistogram(Scheme{QType: QUInt8, ReduceRange: true})
	if err := h.Observe(activation1M()); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := h.QParams(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEntropyQParams(b *testing.B) {
	e := NewEntropy(Scheme{QType: QInt8, Symmetric: true})
	if err := e.Observe(activation1M()); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := e.QParams(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMSEQParams(b *testing.B) {
	m := NewMSE(Scheme{QType: QInt8, Symmetric: true})
	if err := m.Observe(activation1M()); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := m.QParams(); err != nil {
			b.Fatal(err)
		}
	}
}
