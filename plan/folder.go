package plan

import (
	"context"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/llm"
	"github.com/qscript-dev/qscript/report"
)

// FormatFolder is the format of compressed-tensors folder outputs (package llm).
const FormatFolder = "compressed-tensors"

// Folder is a plan of a Hugging Face folder as a compressed-tensors folder (llm.Plan):
// mixed precision is its config groups, one scheme per quantized module.
type Folder struct {
	*llm.Planned
	// Written is what the last save wrote, nil before one.
	Written *llm.Result
}

func (f *Folder) input() string { return f.Folder.Dir }

// Decisions lists every module with a weight, quantized or why not.
func (f *Folder) Decisions() []layer.Decision {
	out := make([]layer.Decision, len(f.Layers))
	for i, lp := range f.Layers {
		out[i] = layer.Decision{Layer: lp.Layer, Selected: lp.Group != nil, Reason: lp.Reason}
	}
	return out
}

// Schemes maps each quantized module to its config group's scheme ("W4A16").
func (f *Folder) Schemes() map[string]string {
	out := map[string]string{}
	for _, lp := range f.Layers {
		if lp.Group != nil {
			out[lp.Layer.Name] = lp.Group.Scheme.Name
		}
	}
	return out
}

// Warnings are the plan's.
func (f *Folder) Warnings() []string { return slices.Clone(f.Planned.Warnings) }

// Report is the written folder's report: its weight errors are measured as it is written.
func (f *Folder) Report(ctx context.Context) (*report.Report, error) {
	if f.Written == nil {
		return nil, fmt.Errorf("%s: the report of a compressed-tensors folder comes with writing it; save it first", f.Folder.Dir)
	}
	return f.Planned.Report(f.Written), ctx.Err()
}

// Save writes the folder path (see Save); the format is always FormatFolder.
func (f *Folder) Save(ctx context.Context, path string, o SaveOptions) error {
	o.Format = FormatFolder
	return Save(ctx, f, path, o)
}

func isFolder(p Plan) bool { _, ok := p.(*Folder); return ok }

// writeFolder writes a compressed-tensors folder (llm.Planned.Write), which refuses an
// output that is, lies in or holds the input folder, or replaces files qscript did not
// write.
func writeFolder(ctx context.Context, p Plan, path string, o SaveOptions) error {
	f := p.(*Folder)
	res, err := f.Write(ctx, path, llm.WriteOptions{MaxShardSize: o.MaxShardSize, Overwrite: o.Overwrite, Progress: o.Progress})
	if err != nil {
		return err
	}
	f.Written = res
	return nil
}
