package report

import (
	"math"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *Report)
		want   string
	}{
		{"nothing", func(r *Report) {}, ""},
		{"SQNR noise below the tolerance", func(r *Report) { r.Layers[2].SQNR += 0.009 }, ""},
		{"SQNR change", func(r *Report) { r.Layers[2].SQNR = 39.9 },
			"conv2: SQNR 41.27 → 39.90 dB (-1.37)\n"},
		{"exact layer stays exact", func(r *Report) { r.Layers[5].SQNR = math.Inf(1) }, ""},
		{"exact layer no longer exact", func(r *Report) { r.Layers[5].SQNR = 48 },
			"fc2: SQNR inf → 48.00 dB\n"},
		{"newly skipped", func(r *Report) {
			r.Layers[4].Quantized, r.Layers[4].Reason = false, "skip list"
			r.Layers[4].BytesAfter = r.Layers[4].BytesBefore
			r.Finish()
		}, "fc1: now skipped: skip list (was quantized int8, SQNR 29.95 dB)\n" +
			"layers: 4 quantized, 2 skipped → 3 quantized, 3 skipped\n" +
			"output size: 48.1 KiB → 144 KiB (3.87× → 1.29×)\n"},
		{"another model", func(r *Report) {
			r.OtherBytes += 2_000_000
			r.Finish()
		}, "size: was 186 KiB → 48.1 KiB (3.87×), now 2.09 MiB → 1.95 MiB (1.07×)\n"},
		{"newly quantized", func(r *Report) {
			l := &r.Layers[0]
			l.Quantized, l.Reason, l.QDType, l.Granularity, l.SQNR = true, "", "int8", "per_channel(axis=0)", 38.5
		}, "conv1: now quantized int8, SQNR 38.50 dB (was skipped: first_conv)\n"},
		{"skip reason", func(r *Report) { r.Layers[0].Reason = "skip list" },
			"conv1: skipped: skip list (was skipped: first_conv)\n"},
		{"granularity", func(r *Report) { r.Layers[3].Granularity = "per_tensor" },
			"conv3: F32 → int8 per_channel(axis=0) → F32 → int8 per_tensor\n"},
		{"layers added and removed", func(r *Report) {
			r.Layers[1].Name = "bn1_renamed"
		}, "bn1_renamed: new layer, skipped: 1-D tensor\nbn1: no longer in the report\n"},
		{"scheme", func(r *Report) { r.Scheme = "int4 per-group" }, "scheme: int8 per-channel symmetric weights, uint8 affine activations (torch numerics) → int4 per-group\n"},
		{"eval", func(r *Report) {
			r.Eval.OutputSQNR, r.Eval.Top1Agreement = 28.5, 0.99444
			acc := 0.9722
			r.Eval.QuantAccuracy = &acc
		}, "eval: output SQNR 31.42 → 28.50 dB (-2.92)\n" +
			"eval: top-1 agreement 99.72% → 99.44%\n" +
			"eval: accuracy float 97.78%, quantized 97.50% (-0.28 points) → float 97.78%, quantized 97.22% (-0.56 points)\n"},
		{"eval dropped", func(r *Report) { r.Eval = nil }, "eval: no longer run\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, cur := sampleReport(), sampleReport()
			tc.change(cur)
			if got := Diff(prev, cur); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestDiffFirstRun(t *testing.T) {
	if got := Diff(nil, sampleReport()); got != "" {
		t.Errorf("first run: %q", got)
	}
}

func TestDiffNewEval(t *testing.T) {
	prev, cur := sampleReport(), sampleReport()
	prev.Eval = nil
	want := "eval: now on 360 samples, output SQNR 31.42 dB, top-1 agreement 99.72%\n"
	if got := Diff(prev, cur); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestHistory: a rerun's nth report is paired with the nth of the run before.
func TestHistory(t *testing.T) {
	var h History
	a, b, c := &Report{Title: "a"}, &Report{Title: "b"}, &Report{Title: "c"}
	if h.Swap(0, a) != nil || h.Swap(1, b) != nil {
		t.Fatal("a first run has no previous reports")
	}
	if h.Swap(0, c) != a || h.Swap(1, a) != b || h.Swap(0, b) != c {
		t.Error("reports paired out of order")
	}
}
