package llm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
)

// module is one named module of the model, as compressed-tensors matches it.
type module struct {
	name  string
	class string // "Linear", "Embedding", "Norm", ...
}

// matcher is one target in compressed-tensors' syntax.
type matcher struct {
	target string
	re     *regexp.Regexp // for "re:" targets
}

// newMatcher compiles a target; a "re:" pattern matches from the start of the name, as
// package layer's Regex says.
func newMatcher(target string) (matcher, error) {
	if strings.TrimSpace(target) == "" {
		return matcher{target: target}, fmt.Errorf("empty target")
	}
	re, _, err := layer.Regex(target)
	if err != nil {
		return matcher{target: target}, fmt.Errorf("target %q: %w", target, err)
	}
	return matcher{target: target, re: re}, nil
}

func (m matcher) isRegex() bool { return m.re != nil }

// matchName is compressed-tensors' _match_name: the regex, or the exact name.
func (m matcher) matchName(name string) bool {
	if m.re != nil {
		return m.re.MatchString(name)
	}
	return m.target == name
}

// matchClass is _match_class: the module's class name (qscript knows no parent classes
// beyond the layer type).
func (m matcher) matchClass(class string) bool { return m.re == nil && m.target == class }

func (m matcher) match(mod module) bool { return m.matchName(mod.name) || m.matchClass(mod.class) }

// prioritized orders the targets a module matches as compressed-tensors' match_targets
// does: targets sorted by (is regex, text); name matches first, then class matches.
func prioritized(mod module, ms []matcher) []string {
	sorted := slices.Clone(ms)
	slices.SortStableFunc(sorted, func(a, b matcher) int {
		if a.isRegex() != b.isRegex() {
			if a.isRegex() {
				return 1
			}
			return -1
		}
		return strings.Compare(a.target, b.target)
	})
	var out []string
	for _, m := range sorted {
		if m.matchName(mod.name) {
			out = append(out, m.target)
		}
	}
	for _, m := range sorted {
		if m.matchClass(mod.class) && !slices.Contains(out, m.target) {
			out = append(out, m.target)
		}
	}
	return out
}

// unmatchedError names a target that matches no module, with the closest names.
func unmatchedError(what, target string, mods []module) error {
	var names []string
	seen := map[string]bool{}
	for _, m := range mods {
		for _, n := range []string{m.name, m.class} {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	key := strings.TrimPrefix(target, "re:")
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range names {
		d := suggest.Distance(key, n)
		if i := strings.LastIndex(n, "."); i >= 0 {
			d = min(d, suggest.Distance(strings.TrimLeft(key, ".*"), n[i+1:])+1)
		}
		cs = append(cs, cand{n, d})
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var near []string
	for _, c := range cs[:min(3, len(cs))] {
		near = append(near, fmt.Sprintf("%q", c.name))
	}
	hint := ""
	if len(near) > 0 {
		hint = "; closest: " + strings.Join(near, ", ")
	}
	return fmt.Errorf("%s %q matches no module of the model%s (targets are exact module names, \"re:\" regular expressions matched from the start of the name, or class names such as Linear)", what, target, hint)
}
