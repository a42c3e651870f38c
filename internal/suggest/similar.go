package suggest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// maxSuggestions bounds how many similar names Similar returns.
const maxSuggestions = 5

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
		d := Distance(lname, lc)
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
