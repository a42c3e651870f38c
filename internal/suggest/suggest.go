// Package suggest finds the names closest to a misspelt one, so that errors about unknown
// options, layers and nodes can say "did you mean …?".
package suggest

import "sort"

// Distance is the Levenshtein edit distance between a and b, counted in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns up to n of known, nearest to name first; ties keep known's order.
func Closest(name string, known []string, n int) []string {
	type cand struct {
		s string
		d int
	}
	cs := make([]cand, 0, len(known))
	for _, k := range known {
		cs = append(cs, cand{k, Distance(name, k)})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	out := make([]string, 0, min(n, len(cs)))
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

// Near returns the name in known nearest to name (the first on a tie) when name is a
// plausible misspelling of it: at most max(1, len(name)/3) edits away.
func Near(name string, known []string) (string, bool) {
	c := Closest(name, known, 1)
	if len(c) == 0 || Distance(name, c[0]) > max(1, len(name)/3) {
		return "", false
	}
	return c[0], true
}
