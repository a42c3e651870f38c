package static

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
)

// skipped resolves Options.Skip against the layers (names and globs as package layer
// matches them): the names to skip, each with the entry that selected it.
func skipped(layers []layer.Layer, skip []string) (map[string]string, error) {
	out := map[string]string{}
	for _, entry := range skip {
		matched := false
		m := layer.Names(entry)[0]
		for _, l := range layers {
			ok, err := m.Matches(l)
			if err != nil {
				return nil, fmt.Errorf("static: skip %q: %w", entry, err)
			}
			if _, done := out[l.Name]; ok && !done {
				out[l.Name] = entry
			}
			matched = matched || ok
		}
		if !matched {
			return nil, fmt.Errorf("static: skip %q matches no Conv, Gemm or MatMul node (closest: %s)", entry, closest(entry, layers))
		}
	}
	return out, nil
}

// closest quotes up to three layer names (or prefixes) nearest to name by edit distance.
func closest(name string, layers []layer.Layer) string {
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
		if p := l.Prefix(); p != "" {
			names = append(names, p)
		}
	}
	var out []string
	for _, n := range suggest.Closest(name, names, 3) {
		out = append(out, fmt.Sprintf("%q", n))
	}
	if len(out) == 0 {
		return "the model has none"
	}
	return strings.Join(out, ", ")
}
