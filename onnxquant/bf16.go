package onnxquant

import (
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// minBF16CastOpset: Cast takes bfloat16 from opset 13.
const minBF16CastOpset = 13

// bf16Weights stores every float32 initializer that a node reads as bfloat16 behind a
// Cast(to=FLOAT) node (<name>_cast, output <name>_float32) and leaves the computation in
// float32. ONNX Runtime's CPU provider has no bfloat16 kernels for MatMul, Conv or Gemm (a
// graph converted to bfloat16 compute fails to load there: "Could not find an
// implementation for MatMul(13)"), and its float16 converter has no bfloat16 mode, so this
// is the bf16 form that runs everywhere: half the weight bytes, float32 arithmetic on
// weights rounded to bfloat16. Skipped layers keep their weight and bias in float32.
func (r *rewriter) bf16Weights() error {
	if v := r.opsetVersion(""); v < minBF16CastOpset {
		return fmt.Errorf("the model imports opset %d; bf16 weights need Cast from bfloat16 (opset %d): re-export it with opset_version=%d or later", v, minBF16CastOpset, minBF16CastOpset)
	}
	r.scheme = "bf16 weights (every float32 initializer stored as bfloat16 behind a Cast to float32), float32 computation"
	keep := map[string]bool{}
	for _, d := range r.decisions {
		if !d.Selected {
			keep[d.Layer.Weight] = true
			if d.Layer.Bias != "" {
				keep[d.Layer.Bias] = true
			}
		}
	}
	cast := map[string]string{} // initializer -> its float32 Cast output
	var casts []*onnxpb.NodeProto
	var castOf []string // the initializer of each Cast
	for _, t := range r.m.GetGraph().GetInitializer() {
		name := t.GetName()
		if t.GetDataType() != typeFloat || keep[name] {
			continue
		}
		ct, err := (&f16conv{r: r, target: typeBFloat16}).convertTensor(t)
		if err != nil {
			return err
		}
		bname := r.unique(name + "_bf16")
		ct.Name = &bname
		r.newInits = append(r.newInits, ct)
		out := r.unique(name + "_float32")
		cast[name] = out
		castOf = append(castOf, name)
		casts = append(casts, node("Cast", r.unique(name+"_cast"), []string{bname}, []string{out}, onnx.IntAttr("to", int64(typeFloat))))
	}
	used := map[string]bool{}
	var nodes []*onnxpb.NodeProto
	for _, n := range r.m.GetGraph().GetNode() {
		changed := false
		inputs := make([]string, len(n.GetInput()))
		for j, s := range n.GetInput() {
			inputs[j] = s
			if c, ok := cast[s]; ok {
				inputs[j], changed, used[s] = c, true, true
			}
		}
		if changed {
			n = cloneWithInputs(n, inputs)
		}
		nodes = append(nodes, n)
	}
	for i, c := range casts {
		if used[castOf[i]] {
			r.nodes = append(r.nodes, c)
		}
	}
	r.nodes = append(r.nodes, nodes...)
	return r.castReport("bf16", typeBFloat16, func(i int, n *onnxpb.NodeProto) bool { return false })
}
