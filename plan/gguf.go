package plan

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/qscript-dev/qscript/convert/llamagguf"
	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/internal/paths"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/report"
)

// FormatGGUF is the format of GGUF outputs (package convert/llamagguf).
const FormatGGUF = "gguf"

// GGUF is a plan of a Hugging Face folder or a float GGUF file as a GGUF file
// (llamagguf.Plan): mixed precision is its per-tensor types. Close releases the source.
type GGUF struct {
	*llamagguf.Planned
	// Written is what the last save wrote, nil before one.
	Written *llamagguf.Report
}

func (g *GGUF) input() string { return g.Source }

// Decisions lists every tensor: quantized, or kept in a float type.
func (g *GGUF) Decisions() []layer.Decision {
	var out []layer.Decision
	for _, t := range g.Tensors() {
		d := layer.Decision{Layer: layer.Layer{Name: t.Name, Weight: t.Name}, Selected: llamagguf.Quantized(t.Type)}
		if !d.Selected {
			d.Reason = "kept as " + t.Type
		}
		out = append(out, d)
	}
	return out
}

// Scheme is the file type ("Q4_K_M").
func (g *GGUF) Scheme() string { return g.Type() }

// Schemes maps each quantized tensor to its type ("Q6_K").
func (g *GGUF) Schemes() map[string]string {
	out := map[string]string{}
	for _, t := range g.Tensors() {
		if llamagguf.Quantized(t.Type) {
			out[t.Name] = t.Type
		}
	}
	return out
}

// Warnings: a GGUF plan has none; its refusals are errors.
func (g *GGUF) Warnings() []string { return nil }

// Report is the written file's tensors, before and after, as a report.
func (g *GGUF) Report(ctx context.Context) (*report.Report, error) {
	w := g.Written
	if w == nil {
		return nil, fmt.Errorf("%s: the report of a GGUF conversion comes with writing it; save it first", g.Source)
	}
	r := &report.Report{Title: "gguf: " + filepath.Base(w.Out), Input: w.Source, Output: w.Out, Scheme: w.Type}
	for _, t := range w.Tensors {
		l := report.Layer{Name: t.Name, DType: t.From, Quantized: llamagguf.Quantized(t.To),
			BytesBefore: int64(t.SrcBytes), BytesAfter: int64(t.Bytes)}
		if l.Quantized {
			l.QDType = t.To
		} else {
			l.Reason = "kept as " + t.To
		}
		r.Layers = append(r.Layers, l)
	}
	r.Finish()
	return r, ctx.Err()
}

// Save writes the GGUF file path (see Save); the format is always FormatGGUF.
func (g *GGUF) Save(ctx context.Context, path string, o SaveOptions) error {
	o.Format = FormatGGUF
	return Save(ctx, g, path, o)
}

func isGGUF(p Plan) bool { _, ok := p.(*GGUF); return ok }

// refuseGGUF refuses the source itself, a file inside a source folder, and a file that
// qscript did not write.
func refuseGGUF(path string, p Plan) error {
	if err := paths.CheckOutput(path, p.input()); err != nil {
		return &RefusedError{err}
	}
	if err := paths.Replaceable(path, writtenByQscript); err != nil {
		return &RefusedError{err}
	}
	return nil
}

// writtenByQscript: an existing GGUF may be replaced only when qscript wrote it.
func writtenByQscript(path string) bool {
	f, err := gguf.OpenFile(path)
	if err != nil {
		return false
	}
	defer f.Close()
	v, _ := f.Get("general.quantized_by")
	s, _ := v.Text()
	return strings.HasPrefix(s, "qscript")
}

// writeGGUF writes the GGUF file (llamagguf.Planned.Write).
func writeGGUF(ctx context.Context, p Plan, path string, _ SaveOptions) error {
	g := p.(*GGUF)
	rep, err := g.Write(ctx, path)
	if err != nil {
		return err
	}
	g.Written = rep
	return nil
}
