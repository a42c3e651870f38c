package plan

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/internal/paths"
	"github.com/qscript-dev/qscript/onnxquant"
	"github.com/qscript-dev/qscript/quantize"
)

// FormatONNX is the format of .onnx outputs: QDQ for a static plan, ONNX Runtime's
// weight-only forms for a weight-only plan of an ONNX model.
const FormatONNX = "onnx"

// SaveOptions configures Save: the weight plan's save options (Format, Layout, Metadata,
// Config, Progress) and, for weight-only ONNX outputs, onnxquant's options.
type SaveOptions struct {
	quantize.SaveOptions
	// ONNX configures weight-only ONNX outputs; nil is onnxquant.DefaultOptions().
	ONNX *onnxquant.Options
	// MaxShardSize bounds a compressed-tensors folder's shards (0: llm.DefaultMaxShardSize);
	// Overwrite lets it replace the files of a folder qscript wrote.
	MaxShardSize int64
	Overwrite    bool
}

// RefusedError is an output path a writer refuses before it writes anything (the input
// itself, a file qscript did not write).
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// writer writes one format for the plans it takes.
type writer struct {
	format string
	// form names an output that has no layout option ("ONNX QDQ"); "" where the layout
	// option applies.
	form  string
	takes func(Plan) bool
	// check refuses, before anything else is checked, a plan the writer takes but cannot
	// write (nil: none).
	check func(p Plan, base string) error
	// refuse refuses an output path, with a *RefusedError (nil: the writer refuses its
	// own, as llm.Planned.Write does for folders).
	refuse func(path string, p Plan) error
	write  func(ctx context.Context, p Plan, path string, o SaveOptions) error
}

// writers is every output Save writes: the first entry of the format that takes the plan
// writes it.
var writers = []writer{
	{format: quantize.FormatSafetensors, takes: isWeighted, refuse: checkNotInput, write: writeWeights},
	{format: quantize.FormatTorch, takes: isWeighted, refuse: checkNotInput, write: writeWeights},
	{format: FormatONNX, form: "ONNX QDQ", takes: isStatic, refuse: checkNotInput, write: writeQDQ},
	{format: FormatONNX, form: "ONNX", takes: isWeightOnly, check: checkONNXInput, refuse: checkNotInput, write: writeORT},
	{format: FormatFolder, form: "compressed-tensors folders", takes: isFolder, write: writeFolder},
	{format: FormatGGUF, form: "GGUF", takes: isGGUF, refuse: refuseGGUF, write: writeGGUF},
}

func isWeighted(p Plan) bool { _, ok := p.(weighted); return ok }

func isStatic(p Plan) bool { _, ok := p.(*Static); return ok }

func isWeightOnly(p Plan) bool { _, ok := p.(*WeightOnly); return ok }

// Formats are the formats qs.save writes (the table's folder and GGUF writers take the
// plans of qs.quantize_folder and qs.gguf.convert).
var Formats = []string{quantize.FormatSafetensors, quantize.FormatTorch, FormatONNX}

// FormatOf returns format with its aliases resolved (quantize.SaveFormat) or, when it
// is "", the format of path's extension: .onnx here, the rest by quantize.SaveFormat. GGUF
// is refused with where it is written instead.
func FormatOf(path, format string) (string, error) {
	switch {
	case format == FormatFolder || format == FormatGGUF:
		return format, nil
	case format != "":
		if strings.EqualFold(format, FormatONNX) {
			return FormatONNX, nil
		}
		return quantize.SaveFormat(path, format)
	case strings.EqualFold(filepath.Ext(path), ".onnx"):
		return FormatONNX, nil
	}
	format, err := quantize.SaveFormat(path, "")
	if err != nil && strings.EqualFold(filepath.Ext(path), ".gguf") {
		return "", fmt.Errorf("%q: qs.save does not write GGUF; qs.gguf.convert (recipes/gguf.lua) converts a Hugging Face folder to GGUF", filepath.Base(path))
	}
	if err != nil {
		return "", fmt.Errorf("cannot tell the format of %q from its extension (.safetensors, .pt, .pth, .bin, .onnx); pass {format = \"safetensors\"} (to a built-in recipe: format=safetensors)", filepath.Base(path))
	}
	return format, nil
}

// Save writes p to path in o.Format (see FormatOf)
// with the writer the table names for that format and that kind of plan. It is the one
// place that refuses an output path (the input model, by the writer's rule) and a layout
// option the format has no place for; the writers write atomically.
func Save(ctx context.Context, p Plan, path string, o SaveOptions) error {
	format, err := FormatOf(path, o.Format)
	if err != nil {
		return err
	}
	w, ok := writerFor(format, p)
	if !ok {
		return fmt.Errorf("save %s: no %s writer for a %T", path, format, p)
	}
	base := filepath.Base(path)
	if w.check != nil {
		if err := w.check(p, base); err != nil {
			return err
		}
	}
	if w.form != "" && o.Layout != "" && o.Layout != quantize.LayoutCompressed {
		return fmt.Errorf("save %s: layout %q applies to safetensors and .pt outputs, not to %s", base, o.Layout, w.form)
	}
	if w.refuse != nil {
		if err := w.refuse(path, p); err != nil {
			return err
		}
	}
	o.Format = format
	return w.write(ctx, p, path, o)
}

func writerFor(format string, p Plan) (writer, bool) {
	for _, w := range writers {
		if w.format == format && w.takes(p) {
			return w, true
		}
	}
	return writer{}, false
}

// checkNotInput refuses an output that would replace the input model, by internal/paths'
// policy (after symbolic links: the same file, or a file inside an input folder).
func checkNotInput(path string, p Plan) error {
	if p.input() == "" {
		return nil
	}
	out, err := paths.Abs(path, "")
	if err != nil {
		return err
	}
	in, err := paths.Abs(p.input(), "")
	if err != nil {
		return err
	}
	if err := paths.CheckOutput(out, in); errors.Is(err, paths.ErrInput) {
		return &RefusedError{fmt.Errorf("save %s: that is the input model; write to another path", path)}
	} else if err != nil {
		return &RefusedError{fmt.Errorf("save %s: %w", path, err)}
	}
	return nil
}

// writeWeights writes the weight plan: safetensors or .pt (package quantize).
func writeWeights(ctx context.Context, p Plan, path string, o SaveOptions) error {
	if w, ok := p.(*WeightOnly); ok {
		w.written = nil
	}
	return p.(weighted).Weights().Save(ctx, path, o.SaveOptions)
}

// writeQDQ writes a static plan's QDQ model (package static).
func writeQDQ(ctx context.Context, p Plan, path string, o SaveOptions) error {
	return p.(*Static).Plan.Save(ctx, path, o.Metadata)
}

// checkONNXInput refuses a weight-only plan of a checkpoint: ONNX outputs rewrite the
// input's graph.
func checkONNXInput(p Plan, base string) error {
	w := p.(*WeightOnly)
	if _, ok := w.Input.Model.(*onnx.File); !ok {
		return fmt.Errorf("save %s: ONNX output needs an ONNX input model; %s is %s (qscript does not export graphs from checkpoints): save as .safetensors or .pt", base, w.InputName, w.Input.Format)
	}
	return nil
}

// writeORT writes a weight-only plan of an ONNX model in ONNX Runtime's form for its
// scheme (package onnxquant), and keeps the report of what it wrote.
func writeORT(ctx context.Context, p Plan, path string, o SaveOptions) error {
	w := p.(*WeightOnly)
	src := w.Input.Model.(*onnx.File)
	oo := onnxquant.DefaultOptions()
	if o.ONNX != nil {
		oo = *o.ONNX
	}
	res, err := onnxquant.Rewrite(ctx, src, w.Options(), oo)
	if err != nil {
		return fmt.Errorf("save %s: %w", filepath.Base(path), err)
	}
	onnxquant.SetMetadata(res.Model, o.Metadata)
	wo := onnx.DefaultWriteOptions()
	wo.SourceDir = src.Dir()
	if err := onnx.Write(path, res.Model, &wo); err != nil {
		return err
	}
	res.Report.Output = path
	w.written = res.Report
	return nil
}
