package calib

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/npy"
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
	g, err := graph.LoadFile(models + name)
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

// TestSteadyStateAllocations checks that calibration allocates next to nothing per batch
// once its buffers are warm: whatever a batch allocates is garbage that a long calibration
// lets pile up to the collector's goal, which is what made peak RSS grow with the number of
// samples (issue 6, acceptance 4). Measured: digits CNN 0 objects (25-45 B of MemStats
// noise), encoder ~3.4 KB / 125 objects per batch of 32 (the shape subgraph's helpers:
// broadcast and matmul shapes, Reshape and Unsqueeze targets). The bounds leave room for
// noise; a closure per op (a parallel kernel on a serial Runner) or a per-batch buffer (an
// activation is 100-500 KB) breaks them.
func TestSteadyStateAllocations(t *testing.T) {
	for _, c := range []struct {
		model, data string
		maxBytes    float64
	}{{"digits_cnn.onnx", "calib.npy", 1 << 10}, {"encoder_block_op17.onnx", "encoder_calib.npy", 6 << 10}} {
		g := loadModel(t, c.model)
		src := tiledNPY(t, c.data, 3200)
		// Each Calibrate makes its workers' Runners afresh, and a worker's first batch fills
		// its Runner's buffers (~100 KB for the CNN): when the machine is loaded, one worker
		// may get no batch of the short run, and the difference then counts that warm-up as
		// ~1 KB per batch. Garbage made per batch shows in every attempt; the least of three
		// is the figure.
		var b, o float64
		for attempt := 0; attempt < 3; attempt++ {
			b, o = allocsPerBatch(t, g, src, 320, 3200)
			if b <= c.maxBytes {
				break
			}
		}
		t.Logf("%s: %.0f B, %.1f objects per batch of %d", c.model, b, o, DefaultBatchSize)
		if b > c.maxBytes {
			t.Errorf("%s: calibration allocates %.0f B per batch in steady state, more than %.0f", c.model, b, c.maxBytes)
		}
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
