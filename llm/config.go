package llm

import (
	"maps"
	"slices"
)

// CTVersion is the compressed-tensors release whose serialization the config follows.
const CTVersion = "0.12.2"

func (a *Args) dict() any {
	if a == nil {
		return nil
	}
	var group, observer any
	if a.GroupSize > 0 {
		group = a.GroupSize
	}
	if a.Observer != "" {
		observer = a.Observer
	}
	return map[string]any{
		"num_bits": a.NumBits, "type": a.Type, "symmetric": a.Symmetric, "group_size": group,
		"strategy": a.Strategy, "block_structure": nil, "dynamic": a.Dynamic, "actorder": nil,
		"observer": observer, "observer_kwargs": map[string]any{},
	}
}

// Formats returns the groups' formats, each once, in group order.
func (p *Planned) Formats() []string {
	var out []string
	for _, g := range p.Groups {
		if f := g.Scheme.Format(); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// QuantizationConfig is config.json's "quantization_config" as compressed-tensors'
// ModelCompressor.update_config writes it (QuantizationConfig.model_dump plus version,
// quant_method, sparsity_config and transform_config): one config group per scheme with
// its format, "mixed-precision" at the top when the groups' formats differ.
func (p *Planned) QuantizationConfig() map[string]any {
	groups := map[string]any{}
	for _, g := range p.Groups {
		w := g.Scheme.Weights
		groups[g.Name] = map[string]any{
			"targets": slices.Clone(g.Targets), "weights": w.dict(), "input_activations": g.Scheme.Input.dict(),
			"output_activations": nil, "format": g.Scheme.Format(),
		}
	}
	format := "mixed-precision"
	if f := p.Formats(); len(f) == 1 {
		format = f[0]
	}
	ignore := make([]any, len(p.Ignore))
	for i, s := range p.Ignore {
		ignore[i] = s
	}
	return map[string]any{
		"version": CTVersion, "quant_method": "compressed-tensors", "sparsity_config": map[string]any{},
		"transform_config": map[string]any{}, "config_groups": groups, "kv_cache_scheme": nil, "format": format,
		"quantization_status": "compressed", "global_compression_ratio": nil, "ignore": ignore,
	}
}

// configJSON is the input's config with quantization_config set, written as
// compressed-tensors writes it (json.dump(indent=2, sort_keys=True)).
func (p *Planned) configJSON() ([]byte, error) {
	cfg := maps.Clone(p.Folder.Config)
	cfg["quantization_config"] = p.QuantizationConfig()
	return pyJSON(cfg)
}
