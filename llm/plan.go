package llm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// Options says what Plan quantizes.
type Options struct {
	// Scheme is the preset of the default group (see Presets); "" is W4A16.
	Scheme string
	// GroupSize, when not 0, replaces the default scheme's integer grouping (> 0 columns
	// per group, -1 per output channel).
	GroupSize int
	// Targets are the default group's targets; nil is {"Linear"}.
	Targets []string
	// Ignore lists modules left in full precision, added to the defaults (lm_head for a
	// *ForCausalLM model). Every entry must match a module.
	Ignore []string
	// Overrides give some modules another scheme; each becomes a config group.
	Overrides []Override
}

// Override is one mixed-precision config group.
type Override struct {
	Targets   []string
	Scheme    string
	GroupSize int
}

// Group is one config group of the output.
type Group struct {
	Name    string // "group_0", ...
	Scheme  Scheme
	Targets []string
}

// LayerPlan is what happens to one module with a weight.
type LayerPlan struct {
	Layer  layer.Layer
	Group  *Group // nil: left as it is
	Reason string // why it is left as it is
}

// Planned is a planned conversion of one folder. It holds no tensor data.
type Planned struct {
	Folder   *hf.Folder
	Groups   []*Group
	Layers   []LayerPlan
	Ignore   []string // quantization_config's ignore list
	Warnings []string
	byWeight map[string]*LayerPlan
}

// spec is a group before it is known to match anything.
type spec struct {
	scheme  Scheme
	targets []string
}

// Plan decides, without reading tensor data, which scheme each module of the folder gets.
func Plan(f *hf.Folder, o Options) (*Planned, error) {
	specs, err := groupSpecs(o)
	if err != nil {
		return nil, err
	}
	layers, err := layer.List(f, nil)
	if err != nil {
		return nil, err
	}
	mods := modules(f, layers)
	targets, targetOf, err := targetMatchers(specs)
	if err != nil {
		return nil, err
	}
	ignore, userIgnore, err := ignoreMatchers(f, o.Ignore, targets)
	if err != nil {
		return nil, err
	}
	p := &Planned{Folder: f, byWeight: map[string]*LayerPlan{}}
	used := map[string]bool{}
	groupOf := map[int]*Group{}
	var quantizedClasses []string
	for i, mod := range mods {
		if ig := firstMatch(ignore, mod); ig != "" {
			used[ig] = true
			for _, t := range prioritized(mod, targets) {
				used[t] = true // a target whose modules are all ignored still matched
			}
			// The ignore entry counts as used even when no target would have matched.
			if len(prioritized(mod, targets)) > 0 && i < len(layers) {
				p.Layers = append(p.Layers, LayerPlan{Layer: layers[i], Reason: "ignored (" + ig + ")"})
			} else if i < len(layers) {
				p.Layers = append(p.Layers, LayerPlan{Layer: layers[i], Reason: "not a target"})
			}
			continue
		}
		matched := prioritized(mod, targets)
		for _, t := range matched {
			used[t] = true
		}
		if i >= len(layers) { // the tied lm_head, which has no weight of its own
			if len(matched) > 0 {
				return nil, fmt.Errorf("lm_head shares its weight with the input embedding (tie_word_embeddings), so quantizing it would untie them; leave it out of the targets (it is ignored by default)")
			}
			continue
		}
		l := layers[i]
		lp := LayerPlan{Layer: l, Reason: "not a target"}
		if len(matched) > 0 {
			g, why, err := p.assign(l, specs, targetOf[matched[0]], groupOf, f)
			if err != nil {
				return nil, err
			}
			lp.Group, lp.Reason = g, why
			if g != nil && !slices.Contains(quantizedClasses, mod.class) {
				quantizedClasses = append(quantizedClasses, mod.class)
			}
		}
		p.Layers = append(p.Layers, lp)
	}
	if err := checkUsed(targets, userIgnore, used, mods); err != nil {
		return nil, err
	}
	if len(p.Groups) == 0 {
		return nil, fmt.Errorf("%s: no module matches the targets %s; nothing to quantize", f.Dir, strings.Join(specs[0].targets, ", "))
	}
	p.Ignore = unquantized(mods, p.Layers, quantizedClasses)
	if err := p.checkFused(); err != nil {
		return nil, err
	}
	for i := range p.Layers {
		lp := &p.Layers[i]
		if lp.Group != nil {
			p.byWeight[lp.Layer.Weight] = lp
		}
	}
	return p, nil
}

// modules is the folder's modules: its layers, then the lm_head of a causal LM whose
// head is tied to the input embedding (it has no weight of its own).
func modules(f *hf.Folder, layers []layer.Layer) []module {
	mods := make([]module, 0, len(layers)+1)
	for _, l := range layers {
		mods = append(mods, module{name: l.Name, class: l.Type})
	}
	if f.IsCausalLM() && f.TiedEmbeddings() && !slices.ContainsFunc(layers, func(l layer.Layer) bool { return l.Name == "lm_head" }) {
		mods = append(mods, module{name: "lm_head", class: layer.TypeLinear})
	}
	return mods
}

// unquantized is the modules left in float whose class has a quantized module (the
// config's ignore list).
func unquantized(mods []module, layers []LayerPlan, quantizedClasses []string) []string {
	var out []string
	for i, mod := range mods {
		quantized := i < len(layers) && layers[i].Group != nil
		if !quantized && slices.Contains(quantizedClasses, mod.class) {
			out = append(out, mod.name)
		}
	}
	return out
}

// targetMatchers compiles the specs' targets once each, and maps each target to the
// index of its spec: later specs win, as in an OrderedDict.
func targetMatchers(specs []spec) ([]matcher, map[string]int, error) {
	targetOf := map[string]int{}
	var targets []matcher
	for i, s := range specs {
		for _, t := range s.targets {
			m, err := newMatcher(t)
			if err != nil {
				return nil, nil, err
			}
			if _, ok := targetOf[t]; !ok {
				targets = append(targets, m)
			}
			targetOf[t] = i
		}
	}
	return targets, targetOf, nil
}

// checkUsed refuses a target that matched no module and an ignore entry of the user's
// that neither matched a target's module nor names a module.
func checkUsed(targets, userIgnore []matcher, used map[string]bool, mods []module) error {
	for _, t := range targets {
		if !used[t.target] {
			return unmatchedError("target", t.target, mods)
		}
	}
	for _, m := range userIgnore {
		if !used[m.target] && !slices.ContainsFunc(mods, m.match) {
			return unmatchedError("ignore entry", m.target, mods)
		}
	}
	return nil
}

// assign returns the group of a module matched by spec si, creating it on first use, or
// nil and why when the module cannot be quantized.
func (p *Planned) assign(l layer.Layer, specs []spec, si int, groupOf map[int]*Group, f *hf.Folder) (*Group, string, error) {
	s := specs[si]
	switch {
	case l.Type != layer.TypeLinear && l.Type != layer.TypeEmbedding:
		p.warn("%s (%s) stays as it is: only Linear and Embedding weights are quantized", l.Name, l.Type)
		return nil, "not a Linear or Embedding layer", nil
	case len(l.Shape) != 2:
		return nil, "", fmt.Errorf("module %s: weight %s is %v, want 2-D [out, in]", l.Name, l.Weight, l.Shape)
	case l.DType != tensor.BF16 && l.DType != tensor.F16 && l.DType != tensor.F32:
		return nil, "", fmt.Errorf("module %s: weight %s is %v; compressed-tensors numerics need bf16, f16 or f32 weights", l.Name, l.Weight, l.DType)
	case l.Type == layer.TypeEmbedding && f.IsCausalLM() && f.TiedEmbeddings():
		return nil, "", fmt.Errorf("module %s is the input embedding that lm_head shares (tie_word_embeddings); quantizing it would untie them", l.Name)
	}
	if _, err := s.scheme.ctArgs().Groups(l.Shape[1]); err != nil {
		return nil, "", fmt.Errorf("module %s (%s): %v; ignore it (ignore=%s) or choose another group_size", l.Name, s.scheme.Name, err, l.Name)
	}
	g := groupOf[si]
	if g == nil {
		g = &Group{Name: fmt.Sprintf("group_%d", len(p.Groups)), Scheme: s.scheme, Targets: s.targets}
		groupOf[si] = g
		p.Groups = append(p.Groups, g)
	}
	return g, "", nil
}

func (p *Planned) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(p.Warnings, msg) {
		p.Warnings = append(p.Warnings, msg)
	}
}

func groupSpecs(o Options) ([]spec, error) {
	name := o.Scheme
	if name == "" {
		name = "W4A16"
	}
	s, err := PresetScheme(name, o.GroupSize)
	if err != nil {
		return nil, err
	}
	targets := o.Targets
	if len(targets) == 0 {
		targets = []string{layer.TypeLinear}
	}
	specs := []spec{{s, slices.Clone(targets)}}
	for i, ov := range o.Overrides {
		if len(ov.Targets) == 0 {
			return nil, fmt.Errorf("override %d: no targets", i+1)
		}
		s, err := PresetScheme(ov.Scheme, ov.GroupSize)
		if err != nil {
			return nil, fmt.Errorf("override %d (%s): %w", i+1, strings.Join(ov.Targets, ", "), err)
		}
		specs = append(specs, spec{s, slices.Clone(ov.Targets)})
	}
	return specs, nil
}

// ignoreMatchers returns the ignore list with the defaults (lm_head for causal LMs, unless
// a target names it; unmatched defaults are not errors) and the user's entries alone.
func ignoreMatchers(f *hf.Folder, user []string, targets []matcher) (all, mine []matcher, err error) {
	for _, t := range user {
		m, err := newMatcher(t)
		if err != nil {
			return nil, nil, fmt.Errorf("ignore: %w", err)
		}
		mine = append(mine, m)
	}
	all = slices.Clone(mine)
	asked := slices.ContainsFunc(targets, func(m matcher) bool { return m.matchName("lm_head") })
	if f.IsCausalLM() && !asked && !slices.Contains(user, "lm_head") {
		m, _ := newMatcher("lm_head")
		all = append(all, m)
	}
	return all, mine, nil
}

func firstMatch(ms []matcher, mod module) string {
	for _, m := range ms {
		if m.match(mod) {
			return m.target
		}
	}
	return ""
}

// fusedSiblings are the projections vLLM fuses into one layer (packed_modules_mapping of
// its Llama-family models): they must share one scheme, or all be ignored.
var fusedSiblings = [][]string{{"q_proj", "k_proj", "v_proj"}, {"gate_proj", "up_proj"}}

// checkFused refuses a plan that gives fused siblings different schemes: vLLM would load
// them as one layer with one scheme and fail.
func (p *Planned) checkFused() error {
	byName := map[string]*LayerPlan{}
	for i := range p.Layers {
		byName[p.Layers[i].Layer.Name] = &p.Layers[i]
	}
	label := func(lp *LayerPlan) string {
		if lp.Group == nil {
			return "full precision"
		}
		return lp.Group.Scheme.Name + " (" + lp.Group.Name + ")"
	}
	for _, lp := range p.Layers {
		for _, set := range fusedSiblings {
			prefix, ok := strings.CutSuffix(lp.Layer.Name, set[0])
			if !ok {
				continue
			}
			for _, sib := range set[1:] {
				other := byName[prefix+sib]
				if other != nil && other.Group != lp.Group {
					return fmt.Errorf("%s is %s but %s is %s: vLLM fuses %s into one layer, which needs one scheme; give them the same targets",
						lp.Layer.Name, label(&lp), other.Layer.Name, label(other), strings.Join(set, ", "))
				}
			}
		}
	}
	return nil
}
