package layer

import "testing"

func TestNaturalCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"layers.2", "layers.10", -1}, {"layers.10", "layers.2", 1}, {"layers.02", "layers.2", 0},
		{"a", "b", -1}, {"a", "a.0", -1}, {"x9y", "x10", -1}, {"", "", 0},
	} {
		if got := NaturalCompare(c.a, c.b); got != c.want {
			t.Errorf("NaturalCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
