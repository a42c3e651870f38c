package quant

import (
	"math"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

func TestEntropyMatchesORTPort(t *testing.T) {
	fx, data := loadORTPortFixture(t)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, want := range c.Entropy {
				e, err := NewEntropyOptions(Scheme{QType: QInt8, Numerics: ORT},
					EntropyOptions{Bins: want.Bins, QuantizedBins: want.QuantizedBins})
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range c.Batches {
					x := data[b.Offset : b.Offset+b.Len]
					if err := e.Observe(tensor.FromF32([]int{len(x)}, x)); err != nil {
						t.Fatal(err)
					}
				}
				lo, hi, best, kl := e.search()
				if math.Float32bits(lo) != want.Min || math.Float32bits(hi) != want.Max || best != want.Best {
					t.Errorf("bins=%d qbins=%d: window %d range [%s, %s], ORT port window %d [%s, %s]",
						want.Bins, want.QuantizedBins, best, f32hex(lo), f32hex(hi), want.Best,
						f32hex(math.Float32frombits(want.Min)), f32hex(math.Float32frombits(want.Max)))
				}
				if math.Float32bits(kl) != want.KL {
					t.Errorf("bins=%d qbins=%d: KL %s, ORT port %s", want.Bins, want.QuantizedBins,
						f32hex(kl), f32hex(math.Float32frombits(want.KL)))
				}
			}
		})
	}
}
