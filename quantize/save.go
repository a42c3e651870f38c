package quantize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// Output formats of Save.
const (
	FormatSafetensors = "safetensors"
	FormatTorch       = "pt"
)

// maxConfigSize bounds the config.json Save reads and extends.
const maxConfigSize = 16 << 20

// SaveOptions configures Save.
type SaveOptions struct {
	// Format is "safetensors" or "pt"; "" chooses by the path's extension (.safetensors;
	// .pt, .pth, .bin).
	Format string
	// Layout is "compressed" (default) or "fake".
	Layout string
	// Metadata are the user's own string keys for safetensors' __metadata__. The keys
	// "quantization" and "quantization_config" are reserved; "format" defaults to "pt"
	// (what transformers expects) and may be replaced.
	Metadata map[string]string
	// Config is a config.json to copy beside the output with quantization_config added.
	// "" uses the config.json beside the input when there is one (and the input's path
	// is known: a *formats.File). Only the compressed layout of an integer or fp8 e4m3
	// scheme writes it.
	Config string
	// Progress, when set, is called after each source tensor is handed to the writer
	// (qs.save draws a progress bar with it).
	Progress func(Progress)
}

// Save writes the quantized model to path, streaming it tensor by tensor: each source
// tensor is read, quantized and written before the next is read. Unless a report is
// already cached, Save also measures the report's statistics of each quantized weight
// from the values and codes it holds (see Report), so that a report asked for afterwards
// reads nothing. The file is written atomically (temporary file in the same folder,
// fsync, rename): an error or a cancelled ctx leaves no file behind and any previous
// file at path untouched. Save does not check that path is not the input: plan.Save,
// the save path of qs.save, does.
//
// safetensors output carries __metadata__: "format": "pt", the JSON "quantization"
// Record, the JSON "quantization_config" (compressed layout, see CompressedConfig) and
// the user's keys. A .pt output holds the same tensors, loadable with
// torch.load(weights_only=True) as a flat state dict, but no metadata: a string entry
// would break load_state_dict(strict=True); the record is in config.json when one is
// written. fp8 cannot be written to .pt (torch 1.x has no fp8 storage).
//
// With a config.json (see SaveOptions.Config), config.json beside the output is the
// input's with "quantization_config" set. When it would overwrite the input's own
// config.json, it is not written and a warning says so.
func (q *WeightPlan) Save(ctx context.Context, path string, so SaveOptions) error {
	format, err := SaveFormat(path, so.Format)
	if err != nil {
		return err
	}
	layout := so.Layout
	if layout == "" {
		layout = LayoutCompressed
	}
	if !slices.Contains(Layouts, layout) {
		return fmt.Errorf("save: unknown layout %q%s; valid layouts: %s", layout, suggest.DidYouMean(layout, Layouts), strings.Join(Layouts, ", "))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.progress = newProgress(so.Progress, q.infos)
	defer func() { q.progress = nil }()
	var infos []tensor.Info
	for _, info := range q.infos {
		infos = append(infos, q.outputInfos(info, layout)...)
	}
	if format == FormatTorch {
		for _, info := range infos {
			if info.DType == tensor.F8E4M3 || info.DType == tensor.F8E5M2 {
				return fmt.Errorf("save %s: tensor %q is %v, which torch 1.x .pt files cannot hold; save as .safetensors", path, info.Name, info.DType)
			}
		}
	}
	cfg, cfgWhy := q.compressedConfig()
	if layout != LayoutCompressed {
		cfg, cfgWhy = nil, "the fake layout is a float checkpoint"
	}
	meta, err := q.metadata(layout, cfg, so.Metadata)
	if err != nil {
		return err
	}
	configOut, configData, err := q.configJSON(path, so.Config, cfg, cfgWhy)
	if err != nil {
		return err
	}
	var pending *atomicfile.File
	if configOut != "" {
		// Staged before the model is written so that a failure here leaves nothing.
		if pending, err = atomicfile.Create(configOut); err != nil {
			return err
		}
		defer pending.Abort()
		if _, err := pending.Write(configData); err != nil {
			return fmt.Errorf("%s: %w", configOut, err)
		}
	}
	// The report's statistics come from the values and codes the save holds anyway,
	// unless a report already has them.
	var measured map[string]*weightStats
	if q.report == nil {
		measured = map[string]*weightStats{}
	}
	if format == FormatTorch {
		err = q.saveTorch(ctx, path, layout, measured)
	} else {
		err = q.saveSafetensors(ctx, path, layout, infos, meta, measured)
	}
	if err != nil {
		return err
	}
	if pending != nil {
		if err := pending.Commit(); err != nil {
			return fmt.Errorf("%s written, but %s: %w", path, configOut, err)
		}
	}
	return q.saved(ctx, path, measured)
}

// saved records path as the last output and, unless a report is cached, builds the report
// from the statistics measured on the way out.
func (q *WeightPlan) saved(ctx context.Context, path string, measured map[string]*weightStats) error {
	q.output = path
	if q.report != nil {
		q.report.Output = path
		return nil
	}
	// Every selected weight was measured on its way out (except a weight the save wrote
	// unchanged, e.g. one already in fp16 under fp16, which buildReport measures).
	r, err := q.buildReport(ctx, measured)
	if err != nil {
		return fmt.Errorf("%s written, but its report: %w", path, err)
	}
	q.report = r
	return nil
}

func (q *WeightPlan) metadata(layout string, cfg *CompressedConfig, user map[string]string) (map[string]string, error) {
	meta := map[string]string{MetaFormat: "pt"}
	for _, k := range slices.Sorted(maps.Keys(user)) {
		if k == MetaQuantization || k == MetaQuantizationConfig {
			return nil, fmt.Errorf("save: metadata key %q is reserved for qscript's own record", k)
		}
		meta[k] = user[k]
	}
	rec, err := jsonString(q.record(layout))
	if err != nil {
		return nil, err
	}
	meta[MetaQuantization] = rec
	if cfg != nil {
		if meta[MetaQuantizationConfig], err = jsonString(cfg); err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// configJSON decides where config.json goes and returns its new content ("" when none is
// written).
func (q *WeightPlan) configJSON(path, from string, cfg *CompressedConfig, why string) (string, []byte, error) {
	if from == "" {
		if q.srcPath == "" {
			return "", nil, nil
		}
		from = filepath.Join(filepath.Dir(q.srcPath), "config.json")
		if _, err := os.Stat(from); err != nil {
			return "", nil, nil
		}
	}
	if cfg == nil {
		q.warn("config.json not written: %s", why)
		return "", nil, nil
	}
	out := filepath.Join(filepath.Dir(path), "config.json")
	if err := paths.Replaceable(out, quantizedConfig); err != nil {
		q.warn("config.json not written: %v", err)
		return "", nil, nil
	}
	if in, err := os.Stat(from); err == nil {
		if o, err := os.Stat(out); err == nil && os.SameFile(in, o) {
			q.warn("config.json not written: the output's folder holds the input's config.json (%s), which is never overwritten", from)
			return "", nil, nil
		}
	}
	f, err := paths.Open(from)
	if err != nil {
		return "", nil, fmt.Errorf("config %s: %w", from, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("config %s: %w", from, err)
	}
	if len(data) > maxConfigSize {
		return "", nil, fmt.Errorf("config %s: larger than %d bytes", from, maxConfigSize)
	}
	// Keys are kept as raw JSON so nothing else in the file changes meaning.
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return "", nil, fmt.Errorf("config %s: not a JSON object: %w", from, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("config %s: data after the JSON object", from)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return "", nil, err
	}
	obj[MetaQuantizationConfig] = raw
	outData, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return "", nil, fmt.Errorf("config %s: %w", from, err)
	}
	return out, append(outData, '\n'), nil
}

// quantizedConfig recognizes a config.json that a save wrote (it has quantization_config),
// which a later save may replace; any other config.json in the output's folder belongs to
// someone else and stays.
func quantizedConfig(path string) bool {
	f, err := paths.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var obj map[string]json.RawMessage
	if json.NewDecoder(io.LimitReader(f, maxConfigSize)).Decode(&obj) != nil {
		return false
	}
	_, ok := obj[MetaQuantizationConfig]
	return ok
}

func (q *WeightPlan) saveSafetensors(ctx context.Context, path, layout string, infos []tensor.Info, meta map[string]string, measured map[string]*weightStats) error {
	w, err := safetensors.Create(path, infos, meta)
	if err != nil {
		return err
	}
	defer w.Abort()
	if streamable(q.src) {
		if directWrites {
			w.Direct() // false (page cache writes) where the filesystem refuses O_DIRECT
		}
		err = q.streamTo(ctx, w, layout, measured)
	} else {
		err = q.stream(ctx, layout, w.Write, measured)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return w.Close()
}

func (q *WeightPlan) saveTorch(ctx context.Context, path, layout string, measured map[string]*weightStats) error {
	w, err := torch.Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := q.stream(ctx, layout, w.Add, measured); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return w.Close()
}

// stream produces every output tensor in source order and hands it to put. With measured
// not nil, it also records the statistics of every quantized weight there.
func (q *WeightPlan) stream(ctx context.Context, layout string, put func(string, *tensor.Tensor) error, measured map[string]*weightStats) error {
	w := newWorkspace(q.src)
	w.reserve(q.infos, q.ws.kind == kindInt)
	defer w.release()
	for _, info := range q.infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, lw, err := q.produce(w, info, layout)
		if err != nil {
			return err
		}
		q.progress.tick(info)
		if lw != nil && measured != nil {
			measured[info.Name] = lw.stats(HistogramBins)
		}
		for _, o := range out {
			if err := put(o.name, o.t); err != nil {
				return err
			}
		}
	}
	return nil
}
