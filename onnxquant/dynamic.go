package onnxquant

import (
	"context"
	"fmt"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// minDynamicOpset: DynamicQuantizeLinear arrived in opset 11.
const minDynamicOpset = 11

// dynamicInt8 writes what onnxruntime.quantization.quantize_dynamic writes in its default
// QOperator form (onnx_quantizer.py, operators/matmul.py MatMulInteger, operators/conv.py
// ConvInteger): each selected MatMul and Conv reads its activation X through
// DynamicQuantizeLinear (X_QuantizeLinear: X_quantized, X_scale, X_zero_point, uint8, one
// per activation), its weight W as int8 W_quantized with W_scale and W_zero_point
// (QuantType.QInt8 is symmetric: codes -127..127, zero point 0; 7 bits with ReduceRange;
// MatMul per column with per_channel, Conv always per tensor), computes
// MatMulInteger/ConvInteger (<node>_quant), casts the int32 result to float, and multiplies
// it by X_scale × W_scale (<node>_quant_scales_mul, <node>_quant_output_scale_mul). A Conv
// bias is added back after a Reshape to [1, -1, 1, ...]. Gemm has no integer op in
// quantize_dynamic's registry, so Gemm layers stay float.
func (r *rewriter) dynamicInt8(ctx context.Context, o Options) error {
	if v := r.opsetVersion(""); v < minDynamicOpset {
		return fmt.Errorf("the model imports opset %d; dynamic int8 needs opset %d or later (DynamicQuantizeLinear): re-export it with a newer opset_version", v, minDynamicOpset)
	}
	perChannel := r.qo.Weights.PerChannel
	gran := "per_tensor"
	if perChannel {
		gran = "per_channel(MatMul: axis=1, Conv: per tensor)"
	}
	r.scheme = fmt.Sprintf("int8 symmetric weights %s, uint8 activations quantized at run time (ONNX Runtime quantize_dynamic, reduce_range=%v)", gran, o.ReduceRange)
	if !r.qo.Weights.Symmetric {
		r.warn("quantize_dynamic's int8 weights are symmetric; symmetric=false is ignored for the ONNX output")
	}
	d := &dynamicConv{r: r, o: o, acts: map[string][3]string{}, weights: map[string]dynWeight{}}
	if o.Method == MethodGPTQ {
		r.scheme += fmt.Sprintf(", MatMul weights by GPTQ (percdamp %g, act_order %v)", o.GPTQ.PercDamp, o.GPTQ.ActOrder)
		res, err := r.gptq(ctx, o, func(t gptqTarget, W, H []float64) ([]float32, []float32, any, error) {
			perChannel := r.qo.Weights.PerChannel
			tuned, err := gptqInt8(t, W, H, perChannel, o.ReduceRange, o.GPTQ.PercDamp, o.GPTQ.ActOrder, o.GPTQ.BlockSize)
			if err != nil {
				return nil, nil, nil, err
			}
			deq, err := quant.Dequantize(tuned.codes, tuned.p)
			if err != nil {
				return nil, nil, nil, err
			}
			codes, p, err := ortDynamicWeight(tensor.FromF32([]int{t.K, t.N}, t.w), perChannel, o.ReduceRange)
			if err != nil {
				return nil, nil, nil, err
			}
			rtn, err := quant.Dequantize(codes, p)
			if err != nil {
				return nil, nil, nil, err
			}
			return deq.F32(), rtn.F32(), tuned, nil
		})
		if err != nil {
			return err
		}
		d.tuned = map[int]*int8Tuned{}
		for i, c := range res {
			d.tuned[i] = c.(*int8Tuned)
		}
	}
	for i, n := range r.m.GetGraph().GetNode() {
		dec := r.decisions[i]
		if dec == nil || !dec.Selected {
			r.keepFloat(n, dec)
			continue
		}
		if err := d.quantizeNode(i, n, baseLayer(dec)); err != nil {
			return fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
		}
	}
	return nil
}

type dynamicConv struct {
	r       *rewriter
	o       Options
	acts    map[string][3]string // activation -> quantized, scale, zero point
	weights map[string]dynWeight
	tuned   map[int]*int8Tuned // GPTQ's codes by node index
}

type dynWeight struct{ q, scale, zp string }

// quantizeNode appends the integer form of n, or n itself with the reason it stays float.
func (d *dynamicConv) quantizeNode(i int, n *onnxpb.NodeProto, l layerReport) error {
	r := d.r
	op := n.GetOpType()
	keep := func(why string) {
		l.Reason, l.BytesAfter = why, l.BytesBefore
		r.layers = append(r.layers, l.Layer)
		r.nodes = append(r.nodes, n)
	}
	switch {
	case op == "Gemm":
		keep("ONNX Runtime's quantize_dynamic has no integer Gemm (its IntegerOps registry: Conv, MatMul, ...); export Linear as MatMul to quantize it")
		return nil
	case op == "MatMul" && len(l.Shape) != 2:
		keep(fmt.Sprintf("MatMul weight of rank %d: MatMulInteger takes a 2-D weight here", len(l.Shape)))
		return nil
	case op != "MatMul" && op != "Conv":
		keep("op " + op + " has no dynamic integer form")
		return nil
	case l.DType != "F32":
		keep(fmt.Sprintf("%s weight: DynamicQuantizeLinear takes float32 activations (quantize a float32 model)", l.DType))
		return nil
	}
	w := n.GetInput()[1]
	perChannel := d.r.qo.Weights.PerChannel && op == "MatMul"
	wq, err := d.quantizeWeight(w, perChannel, d.tuned[i], &l)
	if err != nil {
		return err
	}
	x := d.quantizeActivation(n.GetInput()[0])
	name := n.GetName()
	intName := ""
	if name != "" {
		intName = r.unique(name + "_quant")
	}
	out := n.GetOutput()[0]
	intOut := r.unique(out + "_output_quantized")
	intOp := "MatMulInteger"
	var attrs []*onnxpb.AttributeProto
	if op == "Conv" {
		intOp, attrs = "ConvInteger", n.GetAttribute()
	}
	r.nodes = append(r.nodes, node(intOp, intName, []string{x[0], wq.q, x[2], wq.zp}, []string{intOut}, attrs...))
	castOut := r.unique(intOut + "_cast_output")
	r.nodes = append(r.nodes, node("Cast", r.unique(intOut+"_cast"), []string{intOut}, []string{castOut}, onnx.IntAttr("to", int64(typeFloat))))
	mulName := x[1] + "_" + wq.scale + "_mul"
	if intName != "" {
		mulName = intName + "_scales_mul"
	}
	mulName = r.unique(mulName)
	mulOut := r.unique(mulName + ":0")
	r.nodes = append(r.nodes, node("Mul", mulName, []string{x[1], wq.scale}, []string{mulOut}))
	scaled := out
	hasBias := op == "Conv" && len(n.GetInput()) == 3 && n.GetInput()[2] != ""
	if hasBias {
		scaled = r.unique(out + "quant_scaled_output")
	}
	outMul := ""
	if intName != "" {
		outMul = r.unique(intName + "_output_scale_mul")
	}
	r.nodes = append(r.nodes, node("Mul", outMul, []string{castOut, mulOut}, []string{scaled}))
	if hasBias {
		if err := d.addBias(n, len(l.Shape), scaled); err != nil {
			return err
		}
	}
	l.Quantized, l.QDType = true, "int8"
	r.layers = append(r.layers, l.Layer)
	return nil
}

// quantizeActivation returns the DynamicQuantizeLinear outputs of x, adding the node the
// first time x is quantized.
func (d *dynamicConv) quantizeActivation(x string) [3]string {
	if q, ok := d.acts[x]; ok {
		return q
	}
	r := d.r
	q := [3]string{r.unique(x + "_quantized"), r.unique(x + "_scale"), r.unique(x + "_zero_point")}
	r.nodes = append(r.nodes, node("DynamicQuantizeLinear", r.unique(x+"_QuantizeLinear"), []string{x}, q[:]))
	d.acts[x] = q
	return q
}

// quantizeWeight adds W_quantized, W_scale and W_zero_point (once per weight) with ONNX
// Runtime's numerics (quant.ORT: compute_scale_zp and quantize_nparray) and records the
// weight's error in l.
func (d *dynamicConv) quantizeWeight(w string, perChannel bool, tuned *int8Tuned, l *layerReport) (dynWeight, error) {
	r := d.r
	t, x, err := r.weight(w)
	if err != nil {
		return dynWeight{}, err
	}
	var codes *tensor.Tensor
	var p *quant.QParams
	if tuned != nil {
		codes, p = tuned.codes, tuned.p
	} else if codes, p, err = ortDynamicWeight(tensor.FromF32(t.Shape, x), perChannel, d.o.ReduceRange); err != nil {
		return dynWeight{}, fmt.Errorf("weight %q: %w", w, err)
	}
	l.Granularity = "per_tensor"
	if perChannel {
		l.Granularity = fmt.Sprintf("per_channel(axis=%d)", len(t.Shape)-1)
	}
	deq, err := quant.Dequantize(codes, p)
	if err != nil {
		return dynWeight{}, err
	}
	if err := l.measure(x, deq.F32()); err != nil {
		return dynWeight{}, err
	}
	l.ScaleMin, l.ScaleMax = minMax(p.Scale)
	if q, ok := d.weights[w]; ok {
		return q, nil
	}
	q := dynWeight{q: r.unique(w + "_quantized"), scale: r.unique(w + "_scale"), zp: r.unique(w + "_zero_point")}
	shape := []int{}
	if perChannel {
		shape = []int{len(p.Scale)}
	}
	zp := tensor.New(tensor.I8, shape...)
	for i, z := range p.ZeroPoint {
		zp.I8()[i] = int8(z)
	}
	for _, add := range []struct {
		name string
		t    *tensor.Tensor
	}{{q.q, codes}, {q.scale, tensor.FromF32(shape, p.Scale)}, {q.zp, zp}} {
		if err := r.addInit(add.name, add.t); err != nil {
			return dynWeight{}, err
		}
	}
	l.BytesAfter = int64(codes.Nbytes()) + int64(5*len(p.Scale))
	d.weights[w] = q
	return q, nil
}

// addBias adds ConvInteger's bias back as ORT's ConvInteger.add_bias does.
func (d *dynamicConv) addBias(n *onnxpb.NodeProto, rank int, scaled string) error {
	r := d.r
	out := n.GetOutput()[0]
	shapeName := r.unique(out + "_bias_reshape_shape")
	reshaped := r.unique(out + "_bias_reshape_output")
	shape := tensor.New(tensor.I64, rank)
	for i := range shape.I64() {
		shape.I64()[i] = 1
	}
	shape.I64()[1] = -1
	if err := r.addInit(shapeName, shape); err != nil {
		return err
	}
	r.nodes = append(r.nodes, node("Reshape", "", []string{n.GetInput()[2], shapeName}, []string{reshaped}))
	r.nodes = append(r.nodes, node("Add", r.unique(out+"_bias_add"), []string{scaled, reshaped}, []string{out}))
	return nil
}

func minMax(v []float32) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return float64(lo), float64(hi)
}

// ortDynamicWeight quantizes a float32 weight as quantize_dynamic does for QInt8 weights
// (quant_utils.quantize_data: symmetric, codes -127..127 or -64..64 with reduce_range, numpy
// rounding): per tensor, or per channel on the last axis (MatMulInteger's columns).
func ortDynamicWeight(t *tensor.Tensor, perChannel, reduceRange bool) (*tensor.Tensor, *quant.QParams, error) {
	scheme := quant.Scheme{QType: quant.QInt8, Symmetric: true, ReduceRange: reduceRange, Numerics: quant.ORT}
	g := quant.PerTensor()
	if perChannel {
		g = quant.PerChannel(len(t.Shape) - 1)
	}
	p, err := quant.ChooseQParams(t, scheme, g)
	if err != nil {
		return nil, nil, err
	}
	codes, err := quant.Quantize(t, p)
	if err != nil {
		return nil, nil, err
	}
	return codes, p, nil
}
