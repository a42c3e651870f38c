package llm

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// outputInfos lists the output tensors of one source tensor: itself when it is not a
// quantized weight, else the compressed-tensors parameters of its format.
func (p *Planned) outputInfos(info tensor.Info) []tensor.Info {
	lp := p.byWeight[info.Name]
	if lp == nil {
		return []tensor.Info{info}
	}
	s, l := lp.Group.Scheme, lp.Layer
	rows, cols := l.Shape[0], l.Shape[1]
	groups, _ := s.ctArgs().Groups(cols)
	prefix := l.Name + "."
	scale := tensor.Info{Name: prefix + "weight_scale", DType: l.DType, Shape: []int{rows, groups}}
	switch s.Format() {
	case "pack-quantized":
		bits := s.Weights.NumBits
		out := []tensor.Info{
			{Name: prefix + "weight_packed", DType: tensor.I32, Shape: []int{rows, quant.CTWords(cols, bits)}},
			scale,
			{Name: prefix + "weight_shape", DType: tensor.I64, Shape: []int{2}},
		}
		if !s.Weights.Symmetric {
			out = append(out, tensor.Info{Name: prefix + "weight_zero_point", DType: tensor.I32, Shape: []int{quant.CTWords(rows, bits), groups}})
		}
		return out
	case "int-quantized":
		out := []tensor.Info{{Name: l.Weight, DType: tensor.I8, Shape: []int{rows, cols}}, scale}
		if !s.Weights.Symmetric {
			out = append(out, tensor.Info{Name: prefix + "weight_zero_point", DType: tensor.I8, Shape: []int{rows, groups}})
		}
		return out
	}
	// float-quantized and naive-quantized fp8
	return []tensor.Info{{Name: l.Weight, DType: tensor.F8E4M3, Shape: []int{rows, cols}}, scale}
}

// LayerStats measures one quantized weight for the report.
type LayerStats struct {
	Layer    string
	SQNR     float64 // dB, signal over quantization noise of the dequantized weight
	MaxErr   float64
	MSE      float64
	Cosine   float64
	ScaleMin float64
	ScaleMax float64
	OutBytes int64
}

// work holds the buffers of one tensor's quantization, reused tensor after tensor.
type work struct {
	raw []byte
	f32 []float32
	deq []float32
	ct  quant.CTWeight
}

// quantizeWeight quantizes one source weight and returns its output tensors (matching
// outputInfos) and its statistics.
func (p *Planned) quantizeWeight(w *work, lp *LayerPlan, t *tensor.Tensor) ([]*tensor.Tensor, LayerStats, error) {
	l, s := lp.Layer, lp.Group.Scheme
	rows, cols := l.Shape[0], l.Shape[1]
	n := rows * cols
	w.f32 = growTo(w.f32, n)
	var err error
	switch t.DType {
	case tensor.BF16:
		err = quant.BF16ToF32To(w.f32, t.U16()[:n])
	case tensor.F16:
		err = quant.F16ToF32To(w.f32, t.U16()[:n])
	case tensor.F32:
		copy(w.f32, t.F32()[:n])
	default:
		err = fmt.Errorf("dtype %v", t.DType)
	}
	if err != nil {
		return nil, LayerStats{}, err
	}
	if err := quant.CTQuantize(w.f32, rows, cols, l.DType, s.ctArgs(), &w.ct); err != nil {
		return nil, LayerStats{}, err
	}
	infos := p.outputInfos(tensor.Info{Name: l.Weight, DType: l.DType, Shape: l.Shape})
	groups := len(w.ct.Scale) / rows
	scale := tensor.FromF32To(l.DType, []int{rows, groups}, w.ct.Scale)
	var out []*tensor.Tensor
	switch s.Format() {
	case "pack-quantized":
		bits := s.Weights.NumBits
		packed := tensor.New(tensor.I32, rows, quant.CTWords(cols, bits))
		if err := quant.PackCTWords(packed.I32(), w.ct.Codes, cols, bits); err != nil {
			return nil, LayerStats{}, err
		}
		shape := tensor.New(tensor.I64, 2)
		shape.I64()[0], shape.I64()[1] = int64(rows), int64(cols)
		out = []*tensor.Tensor{packed, scale, shape}
		if !s.Weights.Symmetric {
			zp, err := quant.PackCTZeroPoints(w.ct.ZeroPoint, rows, groups, bits)
			if err != nil {
				return nil, LayerStats{}, err
			}
			z, _ := tensor.FromBytes(tensor.I32, infos[3].Shape, tensor.Bytes(zp))
			out = append(out, z)
		}
	case "int-quantized":
		codes, _ := tensor.FromBytes(tensor.I8, []int{rows, cols}, tensor.Bytes(w.ct.Codes))
		out = []*tensor.Tensor{codes, scale}
		if !s.Weights.Symmetric {
			z, _ := tensor.FromBytes(tensor.I8, []int{rows, groups}, tensor.Bytes(w.ct.ZeroPoint))
			out = append(out, z)
		}
	default:
		codes, _ := tensor.FromBytes(tensor.F8E4M3, []int{rows, cols}, w.ct.FP8)
		out = []*tensor.Tensor{codes, scale}
	}
	st, err := w.stats(rows, cols, l.DType)
	st.Layer = l.Name
	for _, o := range out {
		st.OutBytes += int64(o.Numel() * o.DType.Size())
	}
	return out, st, err
}

// stats compares the weight with its dequantized form.
func (w *work) stats(rows, cols int, dt tensor.DType) (LayerStats, error) {
	w.deq = growTo(w.deq, rows*cols)
	if err := quant.CTDequantize(w.deq, &w.ct, rows, cols, dt); err != nil {
		return LayerStats{}, err
	}
	e, err := quant.Compare(w.f32, w.deq)
	if err != nil {
		return LayerStats{}, err
	}
	st := LayerStats{MaxErr: e.MaxAbs, SQNR: e.SQNR, MSE: e.MSE, Cosine: e.Cosine}
	st.ScaleMin, st.ScaleMax = math.Inf(1), math.Inf(-1)
	for _, s := range w.ct.Scale {
		st.ScaleMin, st.ScaleMax = min(st.ScaleMin, float64(s)), max(st.ScaleMax, float64(s))
	}
	return st, nil
}

func growTo[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
