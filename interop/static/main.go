// Command static quantizes an ONNX model with calibration data through qscript's Go API
// (data → calib → static) for interop/80-int8-static.sh, until the int8_static recipe
// does the same. It prints one JSON line: the quantized layers, the calibration sample
// count, and, with -eval, the evaluation by qscript's own executor.
//
//	go run ./interop/static -model m.onnx -calib calib.npy -out m.int8.onnx [-eval test.npz] [-observer histogram]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/static"
)

func main() {
	model := flag.String("model", "", "float .onnx model")
	calibPath := flag.String("calib", "", "calibration .npy")
	out := flag.String("out", "", "output QDQ .onnx")
	evalPath := flag.String("eval", "", "held-out .npz with labels (optional)")
	observer := flag.String("observer", "", "activation observer (default histogram)")
	samples := flag.Int("samples", 0, "calibration samples (default 150)")
	flag.Parse()
	if err := run(*model, *calibPath, *out, *evalPath, *observer, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "static:", err)
		os.Exit(1)
	}
}

func run(model, calibPath, out, evalPath, observer string, samples int) error {
	ctx := context.Background()
	f, err := onnx.Open(model)
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := static.LoadGraph(f)
	if err != nil {
		return err
	}
	src, err := data.NPY(calibPath)
	if err != nil {
		return err
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Observer: observer, Samples: samples, Progress: os.Stderr,
		Warn: func(s string) { fmt.Fprintln(os.Stderr, "warning:", s) }})
	if err != nil {
		return err
	}
	opts := static.DefaultOptions()
	opts.Input = model
	q, err := static.Quantize(ctx, f, cal, opts)
	if err != nil {
		return err
	}
	if err := q.Save(ctx, out); err != nil {
		return err
	}
	summary := map[string]any{"model": model, "out": out, "samples": cal.Samples, "observer": cal.Observer,
		"quantized": len(q.Quantized()), "skipped": len(q.Skipped())}
	if evalPath != "" {
		test, err := data.NPZ(evalPath)
		if err != nil {
			return err
		}
		qg, err := q.Graph()
		if err != nil {
			return err
		}
		ev, err := static.Evaluate(ctx, g, qg, test, static.EvalOptions{})
		if err != nil {
			return err
		}
		summary["graph_output_sqnr_db"] = ev.OutputSQNR
		summary["graph_top1_agreement"] = ev.Top1Agreement
		if ev.FloatAccuracy != nil {
			summary["graph_float_acc"], summary["graph_int8_acc"] = *ev.FloatAccuracy, *ev.QuantAccuracy
		}
	}
	b, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
