package graph

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// BenchmarkModelRun measures graph.Run on the committed torch-exported models at batch 1 and
// 32; samples/s is reported as a metric and SetBytes counts input bytes.
func BenchmarkModelRun(b *testing.B) {
	for _, c := range loadModelCases(&testing.T{}) {
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/batch%d", c.name, batch), func(b *testing.B) {
				in := c.g.Inputs()[0]
				shape := append([]int{batch}, c.input.Shape[1:]...)
				x := tensor.New(tensor.F32, shape...)
				for i := range x.F32() {
					x.F32()[i] = float32(math.Sin(float64(i)))
				}
				inputs := map[string]*tensor.Tensor{in.Name: x}
				b.SetBytes(int64(x.Nbytes()))
				for i := 0; i < b.N; i++ {
					if _, err := c.g.Run(context.Background(), inputs, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}
