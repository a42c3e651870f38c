package onnxquant

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// msDomain is ONNX Runtime's contrib op domain.
const msDomain = "com.microsoft"

// ONNX's 4-bit element types (IR version 10; not in this onnxpb's enum).
const (
	typeUInt4 = int32(21)
	typeInt4  = int32(22)
)

// int4DQOpset: DequantizeLinear takes int4 and block_size from opset 21.
const int4DQOpset = 21

// defaultBlockSize is matmul_nbits_quantizer's default block_size.
const defaultBlockSize = 128

// int4 replaces each selected MatMul with a float32 2-D weight [K, N] as ONNX Runtime's
// matmul_nbits_quantizer (DefaultWeightOnlyQuantizer) does. In the MatMulNBits form: node
// <name>_Q4 (com.microsoft, K, N, bits 4, block_size, accuracy_level when set) reading
// <W>_Q4 (uint8 [N, n_blocks, block/2]), <W>_scales ([N*n_blocks]) and, when asymmetric,
// <W>_zero_points (uint8 [N*ceil(n_blocks/2)]). In the DequantizeLinear form (opset 21):
// <W>_DQ_Q4 (int4, or uint4 with <W>_DQ_zero_points, shape [K, N]) and <W>_DQ_scales
// ([n_blocks, N]) into DequantizeLinear <name>_DQ_Q4 (axis 0, block_size), whose output
// <W>_DQ_Q4_output feeds MatMul <name>_matmul_Q4. Codes are round-to-nearest as ONNX
// Runtime's MLAS quantizer computes them, or GPTQ's (Method).
func (r *rewriter) int4(ctx context.Context, o Options) error {
	block := r.qo.Weights.GroupSize
	if block == 0 {
		block = defaultBlockSize
	}
	if block < 16 || block&(block-1) != 0 {
		return fmt.Errorf("group_size %d: MatMulNBits and ONNX Runtime's block quantizer need a power of two of at least 16 (32, 64, 128, ...)", r.qo.Weights.GroupSize)
	}
	symmetric := r.qo.Weights.Symmetric
	qdtype := "int4"
	if !symmetric {
		qdtype = "uint4"
	}
	form := "com.microsoft.MatMulNBits"
	if o.Int4Form == FormDequantizeLinear {
		form = "DequantizeLinear(int4, opset 21) + MatMul"
		if !symmetric {
			form = "DequantizeLinear(uint4, opset 21) + MatMul"
		}
	}
	method := "round to nearest (ONNX Runtime's block quantizer)"
	var tuned map[int]*blockCodes
	if o.Method == MethodGPTQ {
		method = fmt.Sprintf("GPTQ (percdamp %g, act_order %v, block %d)", o.GPTQ.PercDamp, o.GPTQ.ActOrder, o.GPTQ.BlockSize)
		res, err := r.gptq(ctx, o, func(t gptqTarget, W, H []float64) ([]float32, []float32, any, error) {
			bc, err := gptqQuantize(W, H, t.N, t.K, block, symmetric, o.GPTQ.PercDamp, o.GPTQ.ActOrder, o.GPTQ.BlockSize)
			if err != nil {
				return nil, nil, nil, err
			}
			return dequantNBits(bc, false), dequantNBits(rtnNBits(t.w, t.K, t.N, block, symmetric), false), bc, nil
		})
		if err != nil {
			return err
		}
		tuned = map[int]*blockCodes{}
		for i, c := range res {
			tuned[i] = c.(*blockCodes)
		}
	}
	r.scheme = fmt.Sprintf("%s %s weights in blocks of %d along K, %s, %s", qdtype, map[bool]string{true: "symmetric", false: "asymmetric"}[symmetric], block, form, method)
	for i, n := range r.m.GetGraph().GetNode() {
		if err := ctx.Err(); err != nil {
			return err
		}
		dec := r.decisions[i]
		if dec == nil || !dec.Selected {
			r.keepFloat(n, dec)
			continue
		}
		if err := r.int4Node(i, n, block, symmetric, qdtype, o, tuned[i]); err != nil {
			return fmt.Errorf("node %q: %w", n.GetName(), err)
		}
	}
	if o.Int4Form == FormDequantizeLinear {
		r.minIR = 10 // int4 tensors
		return r.raiseOpset(int4DQOpset)
	}
	r.setOpset(msDomain, 1)
	return nil
}

// int4Reason says why a selected layer cannot take the 4-bit form ("" when it can).
func int4Reason(op string, shape []int, dt tensor.DType) string {
	switch {
	case op != "MatMul":
		return "only MatMul weights take the 4-bit block form (matmul_nbits_quantizer's op_types_to_quantize is MatMul); " + op + " stays float"
	case len(shape) != 2:
		return fmt.Sprintf("MatMul weight of rank %d: the 4-bit block form takes a 2-D weight", len(shape))
	case dt != tensor.F32:
		return fmt.Sprintf("MatMul weight is %v: the 4-bit block form here takes float32 weights", dt)
	}
	return ""
}

func (r *rewriter) int4Node(i int, n *onnxpb.NodeProto, block int, symmetric bool, qdtype string, o Options, bc *blockCodes) error {
	l := baseLayer(r.decisions[i])
	if why := int4Reason(n.GetOpType(), l.Shape, r.decisions[i].Layer.DType); why != "" {
		l.Reason, l.BytesAfter = why, l.BytesBefore
		r.layers = append(r.layers, l.Layer)
		r.nodes = append(r.nodes, n)
		return nil
	}
	wName := n.GetInput()[1]
	_, w, err := r.weight(wName)
	if err != nil {
		return err
	}
	K, N := l.Shape[0], l.Shape[1]
	dq := o.Int4Form == FormDequantizeLinear
	if bc == nil {
		if dq {
			bc = rtnQDQ(w, K, N, block, symmetric)
		} else {
			bc = rtnNBits(w, K, N, block, symmetric)
		}
	} else if dq {
		bc = toSigned(bc, symmetric)
	}
	if err := l.measure(w, dequantNBits(bc, dq && symmetric)); err != nil {
		return err
	}
	l.ScaleMin, l.ScaleMax = minMax(bc.scales)
	l.Quantized, l.QDType, l.Granularity = true, qdtype, fmt.Sprintf("per_group(%d)", block)
	if dq {
		err = r.emitDQ(n, wName, bc, symmetric, &l)
	} else {
		err = r.emitNBits(n, wName, bc, symmetric, o.AccuracyLevel, &l)
	}
	if err != nil {
		return err
	}
	r.layers = append(r.layers, l.Layer)
	return nil
}

// toSigned turns GPTQ's unsigned codes with zero point 8 into the signed int4 codes of
// the symmetric DequantizeLinear form (q-8, zero point 0); asymmetric codes are kept.
func toSigned(bc *blockCodes, symmetric bool) *blockCodes {
	if !symmetric {
		return bc
	}
	c := *bc
	c.codes = make([]uint8, len(bc.codes))
	for i, q := range bc.codes {
		c.codes[i] = uint8(int8(q)-8) & 0xf
	}
	c.zps = make([]uint8, len(bc.zps))
	return &c
}

func (r *rewriter) emitNBits(n *onnxpb.NodeProto, w string, bc *blockCodes, symmetric bool, accuracy int, l *layerReport) error {
	b, scales, zp := packNBits(bc, symmetric)
	bName, sName := r.unique(w+"_Q4"), r.unique(w+"_scales")
	bt, err := tensor.FromBytes(tensor.U8, []int{bc.N, bc.nb, bc.block / 2}, b)
	if err != nil {
		return err
	}
	if err := r.addInit(bName, bt); err != nil {
		return err
	}
	if err := r.addInit(sName, tensor.FromF32([]int{len(scales)}, scales)); err != nil {
		return err
	}
	inputs := []string{n.GetInput()[0], bName, sName}
	l.BytesAfter = int64(len(b) + 4*len(scales))
	if !symmetric {
		zName := r.unique(w + "_zero_points")
		zt, err := tensor.FromBytes(tensor.U8, []int{len(zp)}, zp)
		if err != nil {
			return err
		}
		if err := r.addInit(zName, zt); err != nil {
			return err
		}
		inputs = append(inputs, zName)
		l.BytesAfter += int64(len(zp))
	}
	name := ""
	if n.GetName() != "" {
		name = r.unique(n.GetName() + "_Q4")
	}
	attrs := []*onnxpb.AttributeProto{onnx.IntAttr("K", int64(bc.K)), onnx.IntAttr("N", int64(bc.N)), onnx.IntAttr("bits", 4),
		onnx.IntAttr("block_size", int64(bc.block))}
	if accuracy >= 0 {
		attrs = append(attrs, onnx.IntAttr("accuracy_level", int64(accuracy)))
	}
	nn := node("MatMulNBits", name, inputs, []string{n.GetOutput()[0]}, attrs...)
	nn.Domain = proto.String(msDomain)
	r.nodes = append(r.nodes, nn)
	return nil
}

func (r *rewriter) emitDQ(n *onnxpb.NodeProto, w string, bc *blockCodes, symmetric bool, l *layerReport) error {
	packed, scales, zp := packQDQ(bc, symmetric)
	elem := typeInt4
	if !symmetric {
		elem = typeUInt4
	}
	qName, sName := r.unique(w+"_DQ_Q4"), r.unique(w+"_DQ_scales")
	r.newInits = append(r.newInits, &onnxpb.TensorProto{Name: proto.String(qName), DataType: proto.Int32(elem),
		Dims: []int64{int64(bc.K), int64(bc.N)}, RawData: packed})
	if err := r.addInit(sName, tensor.FromF32([]int{bc.nb, bc.N}, scales)); err != nil {
		return err
	}
	inputs := []string{qName, sName}
	l.BytesAfter = int64(len(packed) + 4*len(scales))
	if !symmetric {
		zName := r.unique(w + "_DQ_zero_points")
		r.newInits = append(r.newInits, &onnxpb.TensorProto{Name: proto.String(zName), DataType: proto.Int32(elem),
			Dims: []int64{int64(bc.nb), int64(bc.N)}, RawData: zp})
		inputs = append(inputs, zName)
		l.BytesAfter += int64(len(zp))
	}
	dqOut := r.unique(qName + "_output")
	dqName, mmName := "", ""
	if n.GetName() != "" {
		dqName, mmName = r.unique(n.GetName()+"_DQ_Q4"), r.unique(n.GetName()+"_matmul_Q4")
	}
	r.nodes = append(r.nodes, node("DequantizeLinear", dqName, inputs, []string{dqOut},
		onnx.IntAttr("axis", 0), onnx.IntAttr("block_size", int64(bc.block))))
	r.nodes = append(r.nodes, node("MatMul", mmName, []string{n.GetInput()[0], dqOut}, n.GetOutput()))
	return nil
}

// raiseOpset imports the default domain at version v at least. matmul_nbits_quantizer
// raises it with only a warning that the model may become invalid; here the raised graph
// must load in graph/ (which checks every node against its opset's signature), else it is
// an error that says to re-export the model at that opset.
func (r *rewriter) raiseOpset(v int64) error {
	old := r.opsetVersion("")
	if old >= v {
		return nil
	}
	r.setOpset("", v)
	g := r.m.GetGraph()
	probe := &onnxpb.ModelProto{IrVersion: r.m.IrVersion, OpsetImport: r.opsets,
		Graph: &onnxpb.GraphProto{Node: g.GetNode(), Initializer: g.GetInitializer(), Input: g.GetInput(), Output: g.GetOutput()}}
	if _, err := graph.Load(probe, graph.Options{External: graph.ExternalIn(r.src.Dir())}); err != nil {
		return fmt.Errorf("the DequantizeLinear int4 form needs opset %d and the model imports opset %d, whose nodes do not all hold at %d (%v); re-export it with opset_version=%d, or use the MatMulNBits form", v, old, v, err, v)
	}
	r.warn("default-domain opset raised from %d to %d for int4 DequantizeLinear", old, v)
	return nil
}
