package layer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
)

// maxSuggestions bounds how many similar names an error lists.
const maxSuggestions = 5

// UnknownNameError is returned when a skip or include list (or a layer_types override)
// names a layer the model does not have. Similar holds the closest layer names.
type UnknownNameError struct {
	Option  string   // "skip", "include", "layer_types"
	Name    string   // the name given
	Glob    bool     // Name is a glob that matched no layer
	Similar []string // closest layer names, best first
	// Known lists the model's first layer names, shown when nothing is similar.
	Known []string
	// More counts the layers not in Known.
	More int
}

func (e *UnknownNameError) Error() string {
	var b strings.Builder
	if e.Glob {
		fmt.Fprintf(&b, "%s: pattern %q matches no layer", e.Option, e.Name)
	} else {
		fmt.Fprintf(&b, "%s: no layer named %q", e.Option, e.Name)
	}
	if len(e.Similar) > 0 {
		fmt.Fprintf(&b, " (similar layers: %s)", strings.Join(e.Similar, ", "))
	} else if len(e.Known) > 0 {
		fmt.Fprintf(&b, " (the model's layers: %s", strings.Join(e.Known, ", "))
		if e.More > 0 {
			fmt.Fprintf(&b, " and %d more", e.More)
		}
		b.WriteString(")")
	} else {
		b.WriteString(" (the model has no layers)")
	}
	return b.String()
}

// Similar returns the candidates closest to name, best first: those that hold every
// dotted part of name in order ("model.layers.3.q_proj" finds
// "model.layers.3.self_attn.q_proj"), those within an edit distance of
// max(2, len(name)/3), then those that contain name or are contained in it. Comparisons
// ignore letter case.
func Similar(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	var found []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := suggest.Distance(lname, lc)
		switch {
		case hasParts(lc, lname):
			d = min(d, 1) // surely the layer meant, however far in characters
		case d <= limit:
		case lname != "" && (strings.Contains(lc, lname) || strings.Contains(lname, lc)):
			d = limit + 1 + abs(len(lc)-len(lname))
		default:
			continue
		}
		found = append(found, scored{c, d})
	}
	slices.SortStableFunc(found, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	out := make([]string, 0, min(len(found), maxSuggestions))
	for _, f := range found {
		if len(out) == maxSuggestions {
			break
		}
		if !slices.Contains(out, f.s) {
			out = append(out, f.s)
		}
	}
	return out
}

// hasParts reports whether the dotted parts of name, two or more, appear in candidate
// in the same order as whole parts: name left out a level of the module path.
func hasParts(candidate, name string) bool {
	want := strings.Split(name, ".")
	if len(want) < 2 {
		return false
	}
	for _, part := range strings.Split(candidate, ".") {
		if part == want[0] {
			if want = want[1:]; len(want) == 0 {
				return true
			}
		}
	}
	return false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// DidYouMean is ` (did you mean "x"?)` for the closest candidate, or "".
func DidYouMean(name string, candidates []string) string {
	if s := Similar(name, candidates); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return ""
}

// maxKnown bounds how many layer names an error lists when none is similar.
const maxKnown = 10

func UnknownName(option, name string, glob bool, layers []Layer) *UnknownNameError {
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.Name
	}
	e := &UnknownNameError{Option: option, Name: name, Glob: glob, Similar: Similar(name, names)}
	if len(e.Similar) == 0 {
		e.Known = names[:min(len(names), maxKnown)]
		e.More = len(names) - len(e.Known)
	}
	return e
}
