package formats

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"
	"github.com/qscript-dev/qscript/tensor"
)

// Convert writes every tensor of m, unchanged, to path as "safetensors" or "pt", streaming
// one tensor at a time into an atomically committed file. Safetensors output keeps m's
// metadata with meta on top ("format" defaults to "pt", as transformers expects); .pt files
// hold no metadata, so meta must be empty for them.
func Convert(ctx context.Context, path, format string, m Model, meta map[string]string) error {
	infos := m.Tensors()
	switch format {
	case "safetensors":
		all := maps.Clone(m.Metadata())
		if all == nil {
			all = map[string]string{}
		}
		maps.Copy(all, meta)
		if _, ok := all["format"]; !ok {
			all["format"] = "pt"
		}
		return safetensors.WriteFile(ctx, path, infos, all, m.Load)
	case "pt":
		if len(meta) > 0 {
			return fmt.Errorf("%s: .pt files hold no metadata; save as .safetensors to keep it", filepath.Base(path))
		}
		names := make([]string, 0, len(infos))
		for _, info := range infos {
			if info.DType == tensor.F8E4M3 || info.DType == tensor.F8E5M2 {
				return fmt.Errorf("%s: tensor %q is %v, which torch 1.x .pt files cannot hold; save as .safetensors", filepath.Base(path), info.Name, info.DType)
			}
			names = append(names, info.Name)
		}
		return torch.Write(ctx, path, names, m.Load)
	}
	return fmt.Errorf("%s: a model converts to safetensors or pt, not %q", filepath.Base(path), format)
}
