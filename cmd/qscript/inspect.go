package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/internal/clip"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/static"
)

// runInspect is `qscript inspect FILE [--json]`. It opens the file through formats.Open,
// which reads headers only, and prints formats.Summarize as a table or as JSON.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, asJSON, err := parseInspectArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "qscript inspect: %v\n%s", err, inspectUsage)
		return exitUsage
	}
	f, err := openInspected(path)
	if err != nil {
		fmt.Fprintf(stderr, "qscript inspect: %s\n", clip.Text(err.Error()))
		return exitRecipeError
	}
	defer f.Close()
	s := formats.Summarize(f)
	// An ONNX model also gets its graph: inputs, outputs, opsets, ops, what graph/ cannot run.
	var graphSummary *static.Summary
	if o, ok := f.Model.(*onnx.File); ok {
		g := static.Inspect(o)
		graphSummary = &g
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := struct {
			formats.Summary
			Graph *static.Summary `json:"graph,omitempty"`
		}{s, graphSummary}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "qscript inspect: %s: %v\n", path, err)
			return exitRecipeError
		}
		return exitOK
	}
	printSummary(stdout, s)
	if graphSummary != nil {
		graphSummary.WriteText(stdout, clip.Printable)
	}
	return exitOK
}

// openInspected opens a file through formats.Open, or a Hugging Face model folder
// through formats/hf: its weights as one model, with config.json's architectures,
// model_type, torch_dtype and quantization_config added to the weights' metadata.
func openInspected(path string) (*formats.File, error) {
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return formats.Open(path)
	}
	if _, err := os.Stat(filepath.Join(path, hf.ConfigName)); err != nil {
		return nil, fmt.Errorf("%s is a folder without %s, not a Hugging Face model folder; inspect one of its files (a sharded safetensors checkpoint opens through its .safetensors.index.json)", path, hf.ConfigName)
	}
	folder, err := hf.Open(path)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for k, v := range folder.Model.Metadata() {
		meta[k] = v
	}
	for _, key := range []string{"architectures", "model_type", "torch_dtype", "quantization_config"} {
		v, ok := folder.Config[key]
		if !ok {
			continue
		}
		if str, isStr := v.(string); isStr {
			meta["config."+key] = str
		} else if b, err := json.Marshal(v); err == nil {
			meta["config."+key] = string(b)
		}
	}
	if q, ok := meta["config.quantization_config"]; ok {
		meta["quantization_config"] = q // shown as the file formats' record is
		delete(meta, "config.quantization_config")
	}
	return &formats.File{Model: folderModel{folder.Model, meta}, Path: path, Format: "Hugging Face folder, " + folder.Weights}, nil
}

// folderModel is a folder's weights with the folder's metadata.
type folderModel struct {
	formats.Model
	meta map[string]string
}

func (m folderModel) Metadata() map[string]string { return m.meta }

const inspectUsage = "Usage: qscript inspect FILE [--json]\n"

// parseInspectArgs accepts the flag before or after the file name.
func parseInspectArgs(args []string) (path string, asJSON bool, err error) {
	onlyFiles := false
	for _, a := range args {
		switch {
		case !onlyFiles && a == "--":
			onlyFiles = true
		case !onlyFiles && (a == "--json" || a == "-json"):
			asJSON = true
		case !onlyFiles && strings.HasPrefix(a, "-") && a != "-":
			return "", false, fmt.Errorf("unknown flag %s", a)
		case path != "":
			return "", false, fmt.Errorf("one FILE expected, got %q and %q", path, a)
		default:
			path = a
		}
	}
	if path == "" {
		return "", false, fmt.Errorf("no FILE given")
	}
	return path, asJSON, nil
}

// printSummary writes the human-readable report: the tensor table, totals by dtype, the
// metadata and the quantization records.
func printSummary(w io.Writer, s formats.Summary) {
	noun := "tensors"
	if s.TotalTensors == 1 {
		noun = "tensor"
	}
	fmt.Fprintf(w, "%s  (%s, %d %s, %s)\n\n", clip.Printable(s.File), s.Format, s.TotalTensors, noun, report.FormatBytes(s.TotalBytes))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSIZE")
	for _, t := range s.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clip.Printable(t.Name), t.DType, report.FormatShape(t.Shape), report.FormatBytes(t.Bytes))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DTYPE\tTENSORS\tSIZE")
	for _, t := range s.Totals {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", t.DType, t.Tensors, report.FormatBytes(t.Bytes))
	}
	fmt.Fprintf(tw, "total\t%d\t%s\n", s.TotalTensors, report.FormatBytes(s.TotalBytes))
	tw.Flush()

	var keys []string
	for k := range s.Metadata {
		if !slices.Contains(formats.QuantizationKeys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		fmt.Fprintln(w, "\nMetadata")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%s\n", clip.Printable(k), shorten(clip.Printable(s.Metadata[k]), 120))
		}
		tw.Flush()
	}
	for _, rec := range []struct {
		title string
		raw   json.RawMessage
	}{{"Quantization", s.Quantization}, {"Quantization config", s.QuantizationConfig}} {
		if rec.raw == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", rec.title)
		pretty, err := json.MarshalIndent(rec.raw, "  ", "  ")
		if err != nil {
			pretty = rec.raw
		}
		fmt.Fprintf(w, "  %s\n", pretty)
	}
}

func shorten(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + fmt.Sprintf("… (%d bytes; --json shows all)", len(s))
}
