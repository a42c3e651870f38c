package quantize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/layer"
)

// OutputHead returns the layers of m that a Hugging Face causal language model keeps in
// full precision by default: lm_head and, when tie_word_embeddings ties it to the input
// embedding, that embedding (quantizing it would quantize the head too). The architecture
// comes from the config.json of a model folder, or the config.json beside a checkpoint
// file; a model without one, or whose architectures name no *ForCausalLM, has none.
//
// Serving stacks run the head in full precision (vLLM's ParallelLMHead is never
// quantized by compressed-tensors), and its error is the logits' error. A config.json
// that cannot be read is a warning, and then nothing is protected.
func OutputHead(m formats.Model, layers []layer.Layer) (protect []layer.Protected, warning string) {
	f, err := hfConfig(m)
	if err != nil {
		return nil, fmt.Sprintf("output head not recognized: %v", err)
	}
	if f == nil || !f.IsCausalLM() {
		return nil, ""
	}
	arch := ""
	for _, a := range f.Architectures() {
		if strings.HasSuffix(a, "ForCausalLM") {
			arch = a
			break
		}
	}
	head := false
	for _, l := range layers {
		if l.Name == "lm_head" {
			head = true
			protect = append(protect, layer.Protected{Name: l.Name, Reason: fmt.Sprintf(
				"output head of %s stays in full precision; name it in include to quantize it", arch)})
		}
	}
	if f.TiedEmbeddings() {
		if e, ok := inputEmbedding(f, layers); ok {
			what := "output head"
			if head {
				what = "lm_head"
			}
			protect = append(protect, layer.Protected{Name: e.Name, Reason: fmt.Sprintf(
				"input embedding tied to the %s of %s (tie_word_embeddings) stays in full precision; "+
					"name it in include and add Embedding to layers to quantize it", what, arch)})
		}
	}
	return protect, ""
}

// hfConfig finds the config.json of m: a model folder's, or the one beside its file.
// It returns nil when there is none.
func hfConfig(m formats.Model) (*hf.Folder, error) {
	inner, path := m, ""
	if f, ok := m.(*formats.File); ok {
		inner, path = f.Model, f.Path
	}
	if f, ok := inner.(*hf.Folder); ok {
		return f, nil
	}
	if path == "" {
		return nil, nil
	}
	cfgPath := filepath.Join(filepath.Dir(path), hf.ConfigName)
	if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg, err := hf.ReadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return &hf.Folder{Dir: filepath.Dir(path), Config: cfg, Model: inner}, nil
}

// inputEmbedding is the token embedding among layers: the Embedding whose rows are the
// config's vocab_size, or the largest Embedding when the config does not say.
func inputEmbedding(f *hf.Folder, layers []layer.Layer) (layer.Layer, bool) {
	vocab := -1
	if n, ok := f.Config["vocab_size"].(fmt.Stringer); ok {
		if v, err := strconv.Atoi(n.String()); err == nil {
			vocab = v
		}
	}
	best, found := layer.Layer{}, false
	for _, l := range layers {
		if l.Type != layer.TypeEmbedding || len(l.Shape) != 2 {
			continue
		}
		if vocab >= 0 && l.Shape[0] == vocab {
			return l, true
		}
		if vocab < 0 && (!found || l.Shape[0] > best.Shape[0]) {
			best, found = l, true
		}
	}
	return best, found
}
