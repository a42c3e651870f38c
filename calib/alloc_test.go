package calib

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// tiledNPY writes the first-axis repetition of models+name to an .npy of n samples and
// returns it as a source.
func tiledNPY(t testing.TB, name string, n int) data.Source {
	t.Helper()
	f, err := npy.OpenFile(models + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Load(f.Tensors()[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	row := len(x.Data) / x.Shape[0]
	big := tensor.New(x.DType, append([]int{n}, x.Shape[1:]...)...)
	for i := 0; i < n; i++ {
		j := i % x.Shape[0]
		copy(big.Data[i*row:(i+1)*row], x.Data[j*row:(j+1)*row])
	}
	path := filepath.Join(t.TempDir(), name)
	if err := npy.WriteFile(path, big); err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(path)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func loadModel(t testing.TB, name string) *graph.Graph {
	t.Helper()
	f, err := onnx.Open(models + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := graph.Load(f.Proto(), graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// allocsPerBatch returns the bytes and objects Calibrate allocates per batch in steady
// state: the difference between a long and a short calibration, over the extra batches.
func allocsPerBatch(t testing.TB, g *graph.Graph, src data.Source, short, long int) (bytes, objects float64) {
	t.Helper()
	measure := func(samples int) (uint64, uint64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Calibrate(context.Background(), g, src, Options{Samples: samples, Observer: "histogram", ProgressMode: ProgressOff}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
	}
	measure(short) // warm the graph's pools
	b0, m0 := measure(short)
	b1, m1 := measure(long)
	batches := float64((long - short) / DefaultBatchSize)
	return (float64(b1) - float64(b0)) / batches, (float64(m1) - float64(m0)) / batches
}

func TestReportAllocsPerBatch(t *testing.T) {
	for _, c := range []struct{ model, data string }{{"digits_cnn.onnx", "calib.npy"}, {"encoder_block_op17.onnx", "encoder_calib.npy"}} {
		g := loadModel(t, c.model)
		src := tiledNPY(t, c.data, 3200)
		b, o := allocsPerBatch(t, g, src, 320, 3200)
		t.Logf("%s: %.0f B, %.1f objects per batch of %d", c.model, b, o, DefaultBatchSize)
	}
}

func BenchmarkCalibrateLong(b *testing.B) {
	for _, c := range []struct{ model, data string }{{"digits_cnn.onnx", "calib.npy"}, {"encoder_block_op17.onnx", "encoder_calib.npy"}} {
		b.Run(c.model, func(b *testing.B) {
			g := loadModel(b, c.model)
			src := tiledNPY(b, c.data, 3200)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Calibrate(context.Background(), g, src, Options{Samples: 3200, Observer: "histogram", ProgressMode: ProgressOff}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(3200*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
