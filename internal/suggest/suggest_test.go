package suggest

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"kitten", "sitting", 3}, {"", "abc", 3}, {"per_chanel", "per_channel", 1}, {"same", "same", 0}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestClosest(t *testing.T) {
	got := Closest("conv3", []string{"fc1", "conv1", "conv2", "fc2"}, 2)
	if !slices.Equal(got, []string{"conv1", "conv2"}) {
		t.Fatalf("Closest = %v", got)
	}
	if got := Closest("x", nil, 3); len(got) != 0 {
		t.Fatalf("Closest of nothing = %v", got)
	}
}
