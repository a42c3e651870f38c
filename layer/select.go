package layer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Matcher picks layers for a skip or include list: an exact layer name (or weight tensor
// name), a glob, a "re:" regular expression, or a predicate.
type Matcher struct {
	// Pattern is an exact name, a regular expression after the prefix "re:" (see Regex:
	// "re:.*fc[12]" matches "fc1" and "fc2.weight"), a glob when it holds *, ? or [, or,
	// in Select, a shortcut naming the model's first or last layer of a type (see
	// Shortcut) unless a layer bears that name.
	// In globs `*` matches any run of characters, dots included ("encoder.*.attn" matches
	// "encoder.layer.3.attn"); `**` is the same as `*`; `?` matches one character;
	// `[abc]` and `[a-z]` match one character of a class.
	Pattern string
	// Func, when not nil, is a predicate; Pattern is then only its label in reasons.
	Func func(Layer) bool
	re   *regexp.Regexp // the compiled "re:" Pattern, when Names compiled it
}

// Names makes exact-name, glob or "re:" matchers.
func Names(patterns ...string) []Matcher {
	out := make([]Matcher, len(patterns))
	for i, p := range patterns {
		out[i] = Matcher{Pattern: p}
		// A bad expression is reported by Matches, which compiles it again.
		out[i].re, _, _ = Regex(p)
	}
	return out
}

// Regex compiles a "re:" pattern the way compressed-tensors matches its targets
// (compressed_tensors/utils/match.py, _match_name: Python's re.match): the expression
// after "re:" must match from the start of the name, not necessarily to its end.
// ok is false when pattern has no "re:" prefix; err says why Go cannot run the expression.
func Regex(pattern string) (re *regexp.Regexp, ok bool, err error) {
	expr, ok := strings.CutPrefix(pattern, "re:")
	if !ok {
		return nil, false, nil
	}
	re, err = regexp.Compile(`^(?:` + expr + `)`)
	if err != nil {
		return nil, true, fmt.Errorf("not a regular expression Go can run: %v", err)
	}
	return re, true, nil
}

// Predicate makes a matcher from a function; label names it in the report's reasons.
func Predicate(label string, f func(Layer) bool) Matcher {
	return Matcher{Pattern: label, Func: f}
}

func (m Matcher) isRegex() bool { return m.Func == nil && strings.HasPrefix(m.Pattern, "re:") }

func (m Matcher) isGlob() bool {
	return m.Func == nil && !m.isRegex() && strings.ContainsAny(m.Pattern, "*?[")
}

// isExact reports whether m names one layer or weight exactly.
func (m Matcher) isExact() bool { return m.Func == nil && !m.isRegex() && !m.isGlob() }

// label is how reasons name the matcher.
func (m Matcher) label() string {
	switch {
	case m.Func != nil && m.Pattern == "":
		return "predicate"
	case m.Func != nil:
		return "predicate " + m.Pattern
	}
	return m.Pattern
}

// Matches reports whether m picks l: the predicate's answer, or whether the name, glob or
// regular expression matches the layer's name, its weight's name or the weight's Prefix (so "conv2" picks
// the ONNX node that reads "conv2.weight"). An activation is no weight: only the name counts.
func (m Matcher) Matches(l Layer) (bool, error) {
	if m.Func != nil {
		return m.Func(l), nil
	}
	names := []string{l.Name}
	if !l.WeightIsActivation {
		names = append(names, l.Weight)
	}
	if p := l.Prefix(); p != "" {
		names = append(names, p)
	}
	if m.isRegex() {
		re := m.re
		if re == nil {
			var err error
			if re, _, err = Regex(m.Pattern); err != nil {
				return false, err
			}
		}
		return slices.ContainsFunc(names, re.MatchString), nil
	}
	for _, n := range names {
		if !m.isGlob() {
			if n == m.Pattern {
				return true, nil
			}
		} else if ok, err := globMatch(m.Pattern, n); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// Selection says which layers to quantize.
type Selection struct {
	// Types are the layer types to quantize (see TypeMatches); default Linear and Conv.
	Types []string
	// Include, when not empty, keeps only the layers it matches.
	Include []Matcher
	// Skip removes the layers it matches; it wins over Include.
	Skip []Matcher
	// Protect lists layers that stay in float unless Include names them exactly (by
	// layer or weight name; a glob, expression or predicate does not count): a causal language
	// model's output head (see OutputHead).
	Protect []Protected
}

// Protected is a layer kept in full precision unless asked for by name.
type Protected struct {
	Name   string // the layer's name
	Reason string // the report's reason when it stays in float
}

// Decision is what Select decided for one layer.
type Decision struct {
	Layer    Layer
	Selected bool
	Reason   string // why the layer stays in float, when not Selected
}

// Select decides, for every layer, whether it is quantized. A layer is selected when its
// type matches one of sel.Types, Include is empty or matches it, and Skip does not.
//
// Typos never silently do nothing: an exact name in Include or Skip that names no layer,
// or a glob or "re:" expression that matches none, is an *UnknownNameError listing the closest layer names;
// an unknown type is an error suggesting the closest type; and an exact name in Include
// whose layer's type is not in Types is an error (add the type, or drop the name).
func Select(layers []Layer, sel Selection) ([]Decision, error) {
	types := sel.Types
	if types == nil {
		types = DefaultTypes()
	}
	for _, t := range types {
		if _, err := CheckType(t); err != nil {
			return nil, fmt.Errorf("layers: %w", err)
		}
	}
	var err error
	if sel.Include, err = resolveShortcuts("include", sel.Include, layers); err != nil {
		return nil, err
	}
	if sel.Skip, err = resolveShortcuts("skip", sel.Skip, layers); err != nil {
		return nil, err
	}
	if err := checkMatchers("include", sel.Include, layers); err != nil {
		return nil, err
	}
	if err := checkMatchers("skip", sel.Skip, layers); err != nil {
		return nil, err
	}
	out := make([]Decision, len(layers))
	for i, l := range layers {
		d := Decision{Layer: l, Selected: true}
		typeOK := false
		for _, t := range types {
			typeOK = typeOK || TypeMatches(l.Type, t)
		}
		inc, err := firstMatch(sel.Include, l)
		if err != nil {
			return nil, err
		}
		skip, err := firstMatch(sel.Skip, l)
		if err != nil {
			return nil, err
		}
		switch {
		case !typeOK:
			if inc != nil && inc.isExact() {
				return nil, fmt.Errorf("include: layer %q has type %s, which is not in layers {%s}; add %q to layers",
					l.Name, l.Type, strings.Join(types, ", "), l.Type)
			}
			d.Selected, d.Reason = false, fmt.Sprintf("type %s not selected", l.Type)
		case skip != nil:
			d.Selected, d.Reason = false, "skip: "+skip.label()
		case protectedReason(sel, l) != "":
			d.Selected, d.Reason = false, protectedReason(sel, l)
		case len(sel.Include) > 0 && inc == nil:
			d.Selected, d.Reason = false, "not in include"
		}
		out[i] = d
	}
	return out, nil
}

// protectedReason is why l stays in float as a protected layer, "" when it is not one or
// Include names it exactly.
func protectedReason(sel Selection, l Layer) string {
	i := slices.IndexFunc(sel.Protect, func(p Protected) bool { return p.Name == l.Name })
	if i < 0 {
		return ""
	}
	for _, m := range sel.Include {
		if m.isExact() && (m.Pattern == l.Name || m.Pattern == l.Weight) {
			return ""
		}
	}
	return sel.Protect[i].Reason
}

// DefaultTypes are the layer types quantized when a Selection names none.
func DefaultTypes() []string { return []string{TypeLinear, TypeConv} }

func firstMatch(ms []Matcher, l Layer) (*Matcher, error) {
	for i := range ms {
		ok, err := ms[i].Matches(l)
		if err != nil {
			return nil, err
		}
		if ok {
			return &ms[i], nil
		}
	}
	return nil, nil
}

// checkMatchers makes sure every name, glob and expression matches at least one layer.
func checkMatchers(option string, ms []Matcher, layers []Layer) error {
	for _, m := range ms {
		if m.Func != nil {
			continue
		}
		if m.Pattern == "" {
			return fmt.Errorf("%s: empty layer name", option)
		}
		found := false
		for _, l := range layers {
			ok, err := m.Matches(l)
			if err != nil {
				return fmt.Errorf("%s: pattern %q: %w", option, m.Pattern, err)
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			return UnknownName(option, m.Pattern, !m.isExact(), layers)
		}
	}
	return nil
}

// errBadPattern is returned for a glob with an unterminated character class.
var errBadPattern = fmt.Errorf("malformed glob: unterminated [")

// globMatch matches name against pattern, where `*` (and `**`) match any run of
// characters, dots included, `?` one character and `[...]` one character of a class
// (`[!...]` or `[^...]` negated).
func globMatch(pattern, name string) (bool, error) {
	// Classic backtracking over the last star: linear in practice, no recursion.
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				starP, starN = p, n
				continue
			case '?':
				p, n = p+1, n+1
				continue
			case '[':
				ok, width, err := matchClass(pattern[p:], name[n])
				if err != nil {
					return false, err
				}
				if ok {
					p, n = p+width, n+1
					continue
				}
			default:
				if c == name[n] {
					p, n = p+1, n+1
					continue
				}
			}
		}
		if starP < 0 {
			return false, checkClasses(pattern)
		}
		starN++
		p, n = starP, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	if p == len(pattern) {
		return true, checkClasses(pattern)
	}
	return false, checkClasses(pattern)
}

// checkClasses reports a malformed class anywhere in pattern, so that a bad glob fails
// whatever the name it is matched against.
func checkClasses(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '[' {
			_, width, err := matchClass(pattern[i:], 0)
			if err != nil {
				return err
			}
			i += width - 1
		}
	}
	return nil
}

// matchClass matches c against the class at the start of pattern ("[...]") and returns
// the class's width in bytes.
func matchClass(pattern string, c byte) (bool, int, error) {
	i := 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate, i = true, i+1
	}
	matched := false
	for first := true; i < len(pattern); first = false {
		if pattern[i] == ']' && !first {
			return matched != negate, i + 1, nil
		}
		lo := pattern[i]
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			i += 3
		} else {
			i++
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, errBadPattern
}
