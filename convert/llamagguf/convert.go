package llamagguf

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/quant/ggml"
)

// Options choose the file type and what changes it.
type Options struct {
	Type      string     // a file type name (ParseMix): "Q4_K_M", "Q8_0", "F16", ...
	Overrides []Override // per-tensor types, first match wins (llama-quantize --tensor-type)
	Pure      bool       // no mix rules: every quantized tensor gets the type's default
	Imatrix   *Imatrix   // importance matrix, or nil
	// Progress receives a progress bar when it is a terminal; nil draws none.
	Progress io.Writer
	// QuantizedBy, when set, is written as general.quantized_by.
	QuantizedBy string
}

// chunkElems bounds the float32 rows converted at once (4 MiB).
const chunkElems = 1 << 20

// Convert writes the GGUF file out from src, a Hugging Face model folder or an F32/F16/BF16
// GGUF file, at opts.Type: Plan, then Write. The file appears only when complete.
func Convert(ctx context.Context, src, out string, opts Options) (*Report, error) {
	p, err := Plan(src, opts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Write(ctx, out)
}

// Planned is a planned conversion: the source opened and every tensor's type chosen,
// before any tensor data is read. Close releases the source.
type Planned struct {
	Source string
	mix    Mix
	opts   Options
	m      *model
	types  []ggml.Type // per tensor of m, in file order
}

// Plan opens src, a Hugging Face model folder or an F32/F16/BF16 GGUF file, and chooses
// every tensor's type at opts.Type as llama-quantize does before it writes anything.
func Plan(src string, opts Options) (*Planned, error) {
	mix, err := ParseMix(opts.Type)
	if err != nil {
		return nil, err
	}
	if mix.Name == "Q2_K_S" && opts.Imatrix == nil {
		return nil, fmt.Errorf("type Q2_K_S needs an importance matrix (imatrix=), as llama-quantize requires")
	}
	var m *model
	if st, statErr := os.Stat(src); statErr == nil && st.IsDir() {
		m, err = openFolder(src)
	} else {
		m, err = openGGUF(src)
	}
	if err != nil {
		return nil, err
	}
	types, err := planTypes(m, mix, opts)
	if err != nil {
		m.closer.Close()
		return nil, err
	}
	return &Planned{Source: src, mix: mix, opts: opts, m: m, types: types}, nil
}

// Close releases the source.
func (p *Planned) Close() error { return p.m.closer.Close() }

// Type is the file type's name ("Q4_K_M").
func (p *Planned) Type() string { return p.mix.Name }

// TensorPlan is one tensor and the type it is written as.
type TensorPlan struct{ Name, Type string }

// Tensors lists every tensor with its type ("Q6_K"), in file order.
func (p *Planned) Tensors() []TensorPlan {
	out := make([]TensorPlan, len(p.types))
	for i, t := range p.m.tensors {
		out[i] = TensorPlan{t.name, p.types[i].String()}
	}
	return out
}

// Quantized reports whether the type named typ is quantized (not F32, F16 or BF16).
func Quantized(typ string) bool { return !isFloatName(typ) }

// Write writes the GGUF file out. The file appears only when complete.
func (p *Planned) Write(ctx context.Context, out string) (*Report, error) {
	m, plan, opts := p.m, p.types, p.opts
	kvs := append(slices.Clip(m.kvs), gguf.KV{Key: "general.quantization_version", Value: gguf.U32(2)},
		gguf.KV{Key: "general.file_type", Value: gguf.U32(p.mix.FType)})
	if opts.QuantizedBy != "" {
		kvs = slices.DeleteFunc(kvs, func(kv gguf.KV) bool { return kv.Key == "general.quantized_by" })
		kvs = append(kvs, gguf.KV{Key: "general.quantized_by", Value: gguf.Str(opts.QuantizedBy)})
	}
	infos := make([]gguf.TensorInfo, len(m.tensors))
	for i, t := range m.tensors {
		infos[i] = gguf.TensorInfo{Name: t.name, Type: gguf.TensorType(plan[i]), Dims: t.dims}
	}
	w, err := gguf.Create(out, kvs, infos)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep := &Report{Type: p.mix.Name, Source: p.Source, Out: out}
	bar := newProgress(opts.Progress, m.tensors)
	for i, t := range m.tensors {
		if err := ctx.Err(); err != nil {
			bar.finish(false)
			return nil, err
		}
		n, err := writeTensor(w, t, plan[i], opts.Imatrix, p.mix.Name)
		if err != nil {
			bar.finish(false)
			return nil, fmt.Errorf("%s: tensor %s: %w", out, t.name, err)
		}
		rep.add(t, plan[i], n)
		bar.update(i+1, t.srcBytes)
	}
	if err := w.Commit(); err != nil {
		bar.finish(false)
		return nil, err
	}
	bar.finish(true)
	return rep, nil
}

// planTypes chooses every tensor's type in file order, as llama-quantize does before it
// writes anything, and checks that each has an importance matrix row when one is used.
func planTypes(m *model, mix Mix, opts Options) ([]ggml.Type, error) {
	names := make([]string, len(m.tensors))
	for i, t := range m.tensors {
		names[i] = t.name
	}
	if err := checkOverrides(opts.Overrides, names); err != nil {
		return nil, err
	}
	p := newPlanner(mix, opts.Overrides, opts.Pure, opts.Imatrix != nil, m.arch, m.nLayer, m.nHead, m.nKV, names)
	plan := make([]ggml.Type, len(m.tensors))
	for i, t := range m.tensors {
		plan[i] = p.typeFor(t.name, t.dims, t.keep)
		if !plan[i].Supported() {
			return nil, fmt.Errorf("tensor %s: qscript cannot write %s", t.name, plan[i])
		}
		if plan[i] != t.keep && t.from != plan[i].String() && !isFloatName(t.from) {
			return nil, fmt.Errorf("tensor %s is stored as %s: requantizing to %s would compound the error; convert from the Hugging Face folder or an F16/F32 GGUF", t.name, t.from, plan[i])
		}
	}
	return plan, nil
}

// checkOverrides refuses a pattern that matches no tensor: a typo far more often than a
// choice. The suggestions are the names without their blk.N. prefix.
func checkOverrides(overrides []Override, names []string) error {
	var parts []string
	for _, n := range names {
		if i := strings.Index(n, "."); strings.HasPrefix(n, "blk.") && i >= 0 {
			if j := strings.Index(n[i+1:], "."); j >= 0 {
				n = n[i+j+2:]
			}
		}
		if !slices.Contains(parts, n) {
			parts = append(parts, n)
		}
	}
	for _, o := range overrides {
		if !slices.ContainsFunc(names, o.Pattern.MatchString) {
			return fmt.Errorf("override %s=%s matches no tensor; tensors have llama.cpp's names (closest: %s)",
				o.Pattern, o.Type, strings.Join(suggest.Closest(o.Pattern.String(), parts, 3), ", "))
		}
	}
	return nil
}

func isFloatName(s string) bool { return s == "F32" || s == "F16" || s == "BF16" }

// writeTensor converts one tensor in chunks of rows and returns the bytes written.
func writeTensor(w *gguf.Writer, t *srcTensor, typ ggml.Type, imat *Imatrix, mixName string) (uint64, error) {
	rs, err := t.open()
	if err != nil {
		return 0, err
	}
	defer rs.close()
	if raw, ok := rs.raw(); ok && t.from == typ.String() {
		_, err := w.Write(raw)
		return uint64(len(raw)), err
	}
	nrows, ncols := t.rows()
	var weights []float32
	if imat != nil && isQuantized(typ) {
		if weights, err = imat.weights(t.name, ncols); err != nil {
			return 0, err
		}
	}
	if weights == nil && needsImatrix(t.name, typ, mixName) {
		return 0, fmt.Errorf("%s has no importance matrix entry, which Q2_K_S needs for its Q2_K tensors", imat.Path)
	}
	rowBytes, err := ggml.RowSize(typ, ncols)
	if err != nil {
		return 0, err
	}
	step := max(1, chunkElems/max(ncols, 1))
	src := make([]float32, min(step, nrows)*ncols)
	dst := make([]byte, min(step, nrows)*rowBytes)
	var written uint64
	for r0 := 0; r0 < nrows; r0 += step {
		n := min(step, nrows-r0)
		if err := rs.rows(src, r0, n); err != nil {
			return written, err
		}
		if err := ggml.QuantizeRows(typ, dst[:n*rowBytes], src[:n*ncols], n, ncols, weights); err != nil {
			return written, err
		}
		if _, err := w.Write(dst[:n*rowBytes]); err != nil {
			return written, err
		}
		written += uint64(n * rowBytes)
	}
	return written, nil
}

// needsImatrix is llama-quant.cpp's tensor_requires_imatrix for the types qscript writes:
// the Q2_K tensors of a Q2_K_S file, token_embd and output excepted.
func needsImatrix(name string, typ ggml.Type, mix string) bool {
	return mix == "Q2_K_S" && typ == ggml.Q2_K && name != "token_embd.weight" && name != "output.weight"
}
