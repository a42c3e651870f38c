package llm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/internal/paths"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/tensor"
)

// ManifestName is the file that lists what qscript wrote into an output folder.
const ManifestName = ".qscript-manifest.json"

// DefaultMaxShardSize is transformers' default max_shard_size, "5GB".
const DefaultMaxShardSize = 5_000_000_000

// WriteOptions configures Write.
type WriteOptions struct {
	// MaxShardSize bounds each safetensors shard (bytes; 0 is DefaultMaxShardSize). A
	// tensor larger than it gets a shard of its own, as transformers does.
	MaxShardSize int64
	// Overwrite allows replacing an existing, non-empty folder that qscript wrote.
	Overwrite bool
	// Progress, when set, is called after each source tensor is written.
	Progress func(Progress)
}

// Progress is how far Write is (source tensors and bytes read), as for every writer.
type Progress = quantize.Progress

// Result is what Write wrote.
type Result struct {
	Dir               string
	Shards            []string // safetensors files, in order
	Copied            []string // files copied from the input folder
	Skipped           []string // input entries not copied (weights of another layout, folders), with why
	Layers            []LayerStats
	InBytes, OutBytes int64 // tensor data read and written
}

// ParseSize parses a max_shard_size as transformers does: a byte count or a number with
// KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024), case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("max_shard_size %q: want a size such as 5GB, 500MB or 2GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// shard is one output safetensors file.
type shard struct {
	sources []tensor.Info // source tensors whose outputs it holds
	infos   []tensor.Info // output tensors
	size    int64
}

// shards splits the outputs as huggingface_hub's split_state_dict_into_shards does,
// keeping the outputs of one source tensor together.
func (p *Planned) shards(limit int64) []*shard {
	var out []*shard
	cur := &shard{}
	for _, src := range p.sourceOrder() {
		infos := p.outputInfos(src)
		var size int64
		for _, i := range infos {
			size += i.Bytes()
		}
		if size > limit {
			out = append(out, &shard{sources: []tensor.Info{src}, infos: infos, size: size})
			continue
		}
		if cur.size+size > limit && len(cur.sources) > 0 {
			out, cur = append(out, cur), &shard{}
		}
		cur.sources, cur.infos, cur.size = append(cur.sources, src), append(cur.infos, infos...), cur.size+size
	}
	if len(cur.sources) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// sourceOrder is the folder's tensors with layer numbers compared by value, so that
// shards hold whole layers in order ("layers.2" before "layers.10").
func (p *Planned) sourceOrder() []tensor.Info {
	infos := p.Folder.Tensors()
	slices.SortStableFunc(infos, func(a, b tensor.Info) int { return layer.NaturalCompare(a.Name, b.Name) })
	return infos
}

func shardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

// Write writes the quantized folder to out. See the package documentation for how an
// existing folder is treated.
func (p *Planned) Write(ctx context.Context, out string, o WriteOptions) (*Result, error) {
	limit := cmp.Or(o.MaxShardSize, DefaultMaxShardSize)
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	absIn, err := filepath.Abs(p.Folder.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkPlacement(absOut, absIn); err != nil {
		return nil, err
	}
	shards := p.shards(limit)
	names := []string{"config.json"}
	for i := range shards {
		names = append(names, shardName(i, len(shards)))
	}
	if len(shards) > 1 {
		names = append(names, "model.safetensors.index.json")
	}
	copies, skipped, err := p.filesToCopy(names)
	if err != nil {
		return nil, err
	}
	names = append(names, copies...)
	old, err := prepareOut(absOut, names, o.Overwrite)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(absOut), 0o755); err != nil {
		return nil, err
	}
	paths.CleanStale(filepath.Dir(absOut))
	tmp, err := os.MkdirTemp(filepath.Dir(absOut), paths.TempPattern(filepath.Base(absOut)))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &Result{Dir: absOut, Copied: copies, Skipped: skipped}
	if err := p.writeShards(ctx, tmp, shards, res, o.Progress); err != nil {
		return nil, err
	}
	if err := p.writeMeta(tmp, shards); err != nil {
		return nil, err
	}
	for _, name := range copies {
		if err := copyFile(filepath.Join(absIn, name), filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(tmp, names); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	atomicfile.SyncDir(tmp)
	if err := install(tmp, absOut, names, old); err != nil {
		return nil, err
	}
	atomicfile.SyncDir(filepath.Dir(absOut))
	return res, nil
}

// checkPlacement refuses an output that is the input folder, lies inside it, or holds it.
func checkPlacement(out, in string) error {
	if err := paths.CheckOutput(out, in); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	realOut, err := paths.Resolve(out)
	if err != nil {
		return err
	}
	realIn, err := paths.Resolve(in)
	if err != nil {
		return err
	}
	if paths.Within(realOut, realIn) {
		return fmt.Errorf("%s: holds the input folder %s; write to another folder", out, in)
	}
	return nil
}

// prepareOut checks that out may receive the files names and returns the manifest of the
// files qscript wrote there before (nil when out is absent or empty).
func prepareOut(out string, names []string, overwrite bool) ([]string, error) {
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, lerr := os.Lstat(out); lerr == nil {
			return nil, fmt.Errorf("%s: is a %s, not a folder", out, fi.Mode().Type())
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("out %s: %w", out, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	old, merr := readManifest(out)
	switch {
	case merr != nil:
		return nil, fmt.Errorf("out %s is not empty and qscript did not write it (%v); choose another folder (nothing was written)", out, merr)
	case !overwrite:
		return nil, fmt.Errorf("out %s is not empty (a folder qscript wrote before); pass overwrite=true to replace the files qscript wrote there (nothing was written)", out)
	}
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(out, n)); err == nil && !slices.Contains(old, n) {
			return nil, fmt.Errorf("out %s: would replace %s, which qscript did not write; move it away (nothing was written)", out, n)
		}
	}
	return old, nil
}

func readManifest(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("no %s", ManifestName)
	}
	var m struct {
		Tool  string   `json:"tool"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Tool != "qscript" {
		return nil, fmt.Errorf("%s is not qscript's", ManifestName)
	}
	for _, f := range m.Files {
		if f != filepath.Base(f) || f == "." || f == ".." {
			return nil, fmt.Errorf("%s lists %q, not a file name", ManifestName, f)
		}
	}
	return m.Files, nil
}

func writeManifest(dir string, names []string) error {
	data, err := pyJSON(map[string]any{"tool": "qscript", "files": slices.Sorted(slices.Values(names))})
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, ManifestName), append(data, '\n'))
}

// install moves the finished folder into place. A new folder is one rename. Over a folder
// qscript wrote, each file is renamed into place (each atomically), then the files of the
// previous manifest that the new output does not have are removed, the manifest last.
func install(tmp, out string, names, old []string) error {
	if old == nil {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("out %s: %w", out, err)
		}
		return nil
	}
	for _, n := range names {
		if err := os.Rename(filepath.Join(tmp, n), filepath.Join(out, n)); err != nil {
			return fmt.Errorf("out %s: %w", out, err)
		}
	}
	for _, n := range old {
		if !slices.Contains(names, n) {
			if err := os.Remove(filepath.Join(out, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("out %s: removing %s: %w", out, n, err)
			}
		}
	}
	return os.Rename(filepath.Join(tmp, ManifestName), filepath.Join(out, ManifestName))
}

// writeShards streams every source tensor into its shard.
func (p *Planned) writeShards(ctx context.Context, dir string, shards []*shard, res *Result, progress func(Progress)) error {
	var pr Progress
	for _, sh := range shards {
		pr.TotalTensors += len(sh.sources)
		for _, s := range sh.sources {
			pr.TotalBytes += s.Bytes()
		}
	}
	w := &work{}
	for i, sh := range shards {
		name := shardName(i, len(shards))
		sw, err := safetensors.Create(filepath.Join(dir, name), sh.infos, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		for _, src := range sh.sources {
			if err := ctx.Err(); err != nil {
				sw.Abort()
				return err
			}
			if err := p.writeOne(w, sw, src, res); err != nil {
				sw.Abort()
				return fmt.Errorf("%s: tensor %q: %w", p.Folder.Dir, src.Name, err)
			}
			pr.Tensors++
			pr.Bytes += src.Bytes()
			if progress != nil {
				progress(pr)
			}
		}
		if err := sw.Close(); err != nil {
			return err
		}
		res.Shards = append(res.Shards, name)
	}
	return nil
}

func (p *Planned) writeOne(w *work, sw *safetensors.Writer, src tensor.Info, res *Result) error {
	t, err := w.read(p.Folder, src)
	if err != nil {
		return err
	}
	res.InBytes += src.Bytes()
	lp := p.byWeight[src.Name]
	if lp == nil {
		res.OutBytes += src.Bytes()
		return sw.Write(src.Name, t)
	}
	outs, st, err := p.quantizeWeight(w, lp, t)
	if err != nil {
		return err
	}
	for i, info := range p.outputInfos(src) {
		if err := sw.Write(info.Name, outs[i]); err != nil {
			return err
		}
	}
	res.OutBytes += st.OutBytes
	res.Layers = append(res.Layers, st)
	return nil
}

// sectionReader is implemented by the safetensors readers: positioned reads of a tensor's
// bytes, which keep the file's pages out of the process (a memory map would count the
// whole model in its resident memory by the end of the pass).
type sectionReader interface {
	Section(name string) (*io.SectionReader, error)
}

// read returns a source tensor, through a reused buffer when the reader allows it.
func (w *work) read(f *hf.Folder, info tensor.Info) (*tensor.Tensor, error) {
	s, ok := f.Model.(sectionReader)
	if !ok {
		t, err := f.Load(info.Name)
		if err != nil {
			return nil, err
		}
		return t.Contiguous(), nil
	}
	sec, err := s.Section(info.Name)
	if err != nil {
		return nil, err
	}
	size := info.Bytes()
	if sec.Size() != size {
		return nil, fmt.Errorf("%d bytes stored, %d expected", sec.Size(), size)
	}
	w.raw = growTo(w.raw, int(size))
	if _, err := sec.ReadAt(w.raw, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, err
	}
	return tensor.FromBytes(info.DType, info.Shape, w.raw)
}

// writeMeta writes config.json and, for several shards, the index.
func (p *Planned) writeMeta(dir string, shards []*shard) error {
	cfg, err := p.configJSON()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "config.json"), cfg); err != nil {
		return err
	}
	if len(shards) < 2 {
		return nil
	}
	weightMap := map[string]any{}
	var total int64
	for i, sh := range shards {
		for _, info := range sh.infos {
			weightMap[info.Name] = shardName(i, len(shards))
			total += info.Bytes()
		}
	}
	idx, err := pyJSON(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "model.safetensors.index.json"), append(idx, '\n'))
}

// weightExts are files of other weight layouts, never copied (they would be the
// unquantized model again).
var weightExts = []string{".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx"}

// filesToCopy lists the input folder's files that go to the output unchanged: every
// regular file (or link to one) at the top level except the weights, config.json, the
// files written anyway and qscript's manifest. It returns what it leaves out, with why.
func (p *Planned) filesToCopy(written []string) (copies, skipped []string, err error) {
	entries, err := os.ReadDir(p.Folder.Dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		lower := strings.ToLower(name)
		switch {
		case slices.Contains(written, name) || name == ManifestName || slices.Contains(p.Folder.WeightFiles, name):
			continue
		case strings.HasSuffix(lower, ".index.json") || slices.ContainsFunc(weightExts, func(x string) bool { return strings.HasSuffix(lower, x) }):
			skipped = append(skipped, name+" (weights)")
			continue
		}
		fi, err := os.Stat(filepath.Join(p.Folder.Dir, name))
		if err != nil {
			skipped = append(skipped, name+" ("+err.Error()+")")
			continue
		}
		if !fi.Mode().IsRegular() {
			skipped = append(skipped, name+" (not a regular file)")
			continue
		}
		copies = append(copies, name)
	}
	return copies, skipped, nil
}

func copyFile(src, dst string) error {
	if err := paths.Readable(src, src); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeNew(dst, in, func(err error) error { return fmt.Errorf("copying %s: %w", src, err) })
}

func writeFile(path string, data []byte) error {
	return writeNew(path, bytes.NewReader(data), func(err error) error { return err })
}

// writeNew writes r to path, which must not exist, and syncs it; copyErr words an error
// of the copy itself.
func writeNew(path string, r io.Reader, copyErr func(error) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return copyErr(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
