package suggest

import (
	"slices"
	"strings"
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

func TestSimilar(t *testing.T) {
	names := []string{"model.layers.0.mlp.down_proj", "model.layers.0.mlp.up_proj", "model.layers.0.self_attn.q_proj", "lm_head"}
	if got := Similar("model.layers.0.mlp.dwn_proj", names); len(got) == 0 || got[0] != names[0] {
		t.Errorf("Similar = %v", got)
	}
	if got := Similar("LM_HEAD", names); !slices.Equal(got, []string{"lm_head"}) {
		t.Errorf("Similar = %v", got)
	}
	if got := Similar("q_proj", names); !slices.Equal(got, []string{"model.layers.0.self_attn.q_proj"}) {
		t.Errorf("Similar = %v", got)
	}
	if got := Similar("model.layers.0.q_proj", names); len(got) == 0 || got[0] != "model.layers.0.self_attn.q_proj" {
		t.Errorf("a level left out: Similar = %v", got)
	}
	if got := Similar("zzz", names); len(got) != 0 {
		t.Errorf("Similar = %v", got)
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = "layer" + strings.Repeat("x", i%3) + string(rune('a'+i))
	}
	if got := Similar("layer", many); len(got) != maxSuggestions {
		t.Errorf("%d suggestions", len(got))
	}
}
