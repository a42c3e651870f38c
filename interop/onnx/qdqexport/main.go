// Command qdqexport is the Go side of interop/50-onnx-qdq.sh: it reads a float ONNX model
// and the calibration ranges of its quantized nodes' inputs, computes per-channel symmetric
// int8 weight qparams and uint8 affine activation qparams (ONNX Runtime's arithmetic),
// writes the QDQ model through qdq.Export and onnx.Write, and writes the qparams it chose
// as JSON so the reference simulation uses exactly the same ones.
//
//	go run ./interop/onnx/qdqexport FLOAT.onnx RANGES.json OUT.onnx PARAMS.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/qdq"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
)

type weightParams struct {
	Scale []float32 `json:"scale"`
	Axis  int       `json:"axis"`
}

type actParams struct {
	Scale     float32 `json:"scale"`
	ZeroPoint int32   `json:"zero_point"`
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: qdqexport FLOAT.onnx RANGES.json OUT.onnx PARAMS.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "qdqexport:", err)
		os.Exit(1)
	}
}

func run(modelPath, rangesPath, outPath, paramsPath string) error {
	f, err := onnx.Open(modelPath)
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := os.ReadFile(rangesPath)
	if err != nil {
		return err
	}
	var ranges map[string][2]float32
	if err := json.Unmarshal(raw, &ranges); err != nil {
		return fmt.Errorf("%s: %w", rangesPath, err)
	}

	plan := &qdq.Plan{Nodes: map[string]qdq.NodePlan{}, Activations: map[string]*quant.QParams{}, Dir: f.Dir()}
	out := struct {
		Activations map[string]actParams    `json:"activations"`
		Weights     map[string]weightParams `json:"weights"`
	}{map[string]actParams{}, map[string]weightParams{}}

	actScheme := quant.Scheme{QType: quant.QUInt8, Numerics: quant.ORT}
	for name, r := range ranges {
		scale, zp, err := quant.CalculateQParams([]float32{r[0]}, []float32{r[1]}, actScheme)
		if err != nil {
			return fmt.Errorf("activation %q: %w", name, err)
		}
		plan.Activations[name] = &quant.QParams{Scheme: actScheme, Scale: scale, ZeroPoint: zp, Axis: -1}
		out.Activations[name] = actParams{scale[0], zp[0]}
	}

	weightScheme := quant.Scheme{QType: quant.QInt8, Symmetric: true, Numerics: quant.ORT}
	for _, n := range f.Proto().Graph.Node {
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) {
			continue
		}
		w, err := f.Load(n.Input[1])
		if err != nil {
			return err
		}
		axis, err := layer.WeightAxis(n, len(w.Shape))
		if err != nil {
			return err
		}
		lo, hi := channelRanges(w.F32(), w.Shape, axis)
		scale, zp, err := quant.CalculateQParams(lo, hi, weightScheme)
		if err != nil {
			return fmt.Errorf("weight %q: %w", n.Input[1], err)
		}
		plan.Nodes[n.GetName()] = qdq.NodePlan{Weight: &quant.QParams{Scheme: weightScheme, Scale: scale, ZeroPoint: zp, Axis: axis}}
		out.Weights[n.Input[1]] = weightParams{scale, axis}
	}
	rec, _ := json.Marshal(map[string]any{"format": "qdq", "weights": "int8 symmetric per-channel", "activations": "uint8 affine", "numerics": "onnxruntime"})
	plan.Record = string(rec)

	q, err := qdq.Export(f.Proto(), plan)
	if err != nil {
		return err
	}
	if err := onnx.Write(outPath, q, &onnx.WriteOptions{External: onnx.ExternalAuto, MinExternalBytes: 1024, SourceDir: f.Dir()}); err != nil {
		return err
	}
	js, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(paramsPath, js, 0o644)
}

// channelRanges returns the min and max of each index along axis.
func channelRanges(x []float32, shape []int, axis int) (lo, hi []float32) {
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	c := shape[axis]
	lo, hi = make([]float32, c), make([]float32, c)
	for i := range lo {
		lo[i], hi[i] = x[i*inner], x[i*inner]
	}
	for o := 0; o < outer; o++ {
		for ch := 0; ch < c; ch++ {
			for _, v := range x[(o*c+ch)*inner : (o*c+ch+1)*inner] {
				lo[ch], hi[ch] = min(lo[ch], v), max(hi[ch], v)
			}
		}
	}
	return lo, hi
}
