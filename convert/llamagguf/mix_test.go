package llamagguf

import (
	"fmt"
	"testing"

	"github.com/qscript-dev/qscript/quant/ggml"
)

// llamaNames lists a Llama model's tensors in the converter's order.
func llamaNames(layers int, tied bool) []string {
	names := []string{"token_embd.weight"}
	for i := range layers {
		for _, p := range []string{"attn_k", "attn_norm", "attn_output", "attn_q", "attn_v", "ffn_down", "ffn_gate", "ffn_norm", "ffn_up"} {
			names = append(names, fmt.Sprintf("blk.%d.%s.weight", i, p))
		}
	}
	names = append(names, "output_norm.weight")
	if !tied {
		names = append(names, "output.weight")
	}
	return names
}

// planFor runs the planner over a 4096-wide model (every row a multiple of 256).
func planFor(t *testing.T, mix string, layers, heads, kv int, tied bool, overrides ...string) map[string]ggml.Type {
	t.Helper()
	m, err := ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	var ovs []Override
	for _, s := range overrides {
		o, err := ParseOverride(s)
		if err != nil {
			t.Fatal(err)
		}
		ovs = append(ovs, o)
	}
	names := llamaNames(layers, tied)
	p := newPlanner(m, ovs, false, false, "llama", layers, heads, kv, names)
	out := map[string]ggml.Type{}
	for _, n := range names {
		dims := []uint64{4096, 4096}
		if len(n) > 11 && n[len(n)-11:] == "norm.weight" {
			dims = dims[:1]
		}
		out[n] = p.typeFor(n, dims, ggml.F32)
	}
	return out
}

// TestMixRules checks llama_tensor_get_type's choices (llama-quant.cpp) on a 32-layer model.
func TestMixRules(t *testing.T) {
	moreBits := map[int]bool{0: true, 1: true, 2: true, 3: true, 6: true, 9: true, 12: true, 15: true, 18: true, 21: true, 24: true, 27: true, 28: true, 29: true, 30: true, 31: true}
	q4km := planFor(t, "Q4_K_M", 32, 32, 8, false)
	for i := range 32 {
		want := ggml.Q4_K
		if moreBits[i] {
			want = ggml.Q6_K
		}
		for _, p := range []string{"attn_v", "ffn_down"} {
			if got := q4km[fmt.Sprintf("blk.%d.%s.weight", i, p)]; got != want {
				t.Errorf("Q4_K_M blk.%d.%s: %s, want %s", i, p, got, want)
			}
		}
		if got := q4km[fmt.Sprintf("blk.%d.attn_q.weight", i)]; got != ggml.Q4_K {
			t.Errorf("Q4_K_M blk.%d.attn_q: %s", i, got)
		}
		if got := q4km[fmt.Sprintf("blk.%d.attn_norm.weight", i)]; got != ggml.F32 {
			t.Errorf("Q4_K_M blk.%d.attn_norm: %s", i, got)
		}
	}
	cases := []struct {
		mix    string
		tied   bool
		kv     int
		name   string
		want   ggml.Type
		others []string
	}{
		{"Q4_K_M", false, 8, "output.weight", ggml.Q6_K, nil},
		{"Q4_K_M", false, 8, "token_embd.weight", ggml.Q4_K, nil},
		{"Q4_K_M", true, 8, "token_embd.weight", ggml.Q6_K, nil},
		{"Q8_0", true, 8, "token_embd.weight", ggml.Q8_0, nil},
		{"Q4_0", false, 8, "output.weight", ggml.Q6_K, nil},
		{"Q3_K_M", false, 8, "blk.1.attn_v.weight", ggml.Q5_K, nil},
		{"Q3_K_M", false, 8, "blk.2.attn_v.weight", ggml.Q4_K, nil},
		{"Q3_K_M", false, 8, "blk.1.ffn_down.weight", ggml.Q5_K, nil},
		{"Q3_K_M", false, 8, "blk.2.ffn_down.weight", ggml.Q4_K, nil},
		{"Q3_K_M", false, 8, "blk.2.attn_output.weight", ggml.Q4_K, nil},
		{"Q3_K_M", false, 8, "blk.2.ffn_up.weight", ggml.Q3_K, nil},
		{"Q2_K", false, 8, "blk.5.attn_v.weight", ggml.Q4_K, nil}, // 4 query heads per kv head
		{"Q2_K", false, 32, "blk.5.attn_v.weight", ggml.Q3_K, nil},
		{"Q2_K", false, 8, "blk.5.ffn_down.weight", ggml.Q3_K, nil},
		{"Q4_K_S", false, 8, "blk.3.attn_v.weight", ggml.Q5_K, nil},
		{"Q4_K_S", false, 8, "blk.4.attn_v.weight", ggml.Q4_K, nil},
		{"Q4_K_S", false, 8, "blk.3.ffn_down.weight", ggml.Q5_K, nil},
		{"Q5_K_M", false, 8, "blk.31.ffn_down.weight", ggml.Q6_K, nil},
		{"Q6_K", false, 8, "blk.0.attn_v.weight", ggml.Q6_K, nil},
		{"F16", false, 8, "blk.0.attn_v.weight", ggml.F16, nil},
		{"F16", false, 8, "output_norm.weight", ggml.F32, nil},
		// An override wins and skips the rules and their counter: layer 6's ffn_down is
		// then the 6th counted (i = 5), not a use_more_bits layer.
		{"Q4_K_M", false, 8, "blk.0.ffn_down.weight", ggml.Q8_0, []string{`blk\.0\.ffn_down=Q8_0`}},
		{"Q4_K_M", false, 8, "blk.6.ffn_down.weight", ggml.Q4_K, []string{`blk\.0\.ffn_down=Q8_0`}},
		{"Q4_K_M", false, 8, "blk.7.attn_q.weight", ggml.Q8_0, []string{`attn_q=q8_0`, `attn=Q2_K`}},
	}
	for _, c := range cases {
		got := planFor(t, c.mix, 32, 32, c.kv, c.tied, c.others...)[c.name]
		if got != c.want {
			t.Errorf("%s (tied %v, %d kv heads, overrides %q) %s: %s, want %s", c.mix, c.tied, c.kv, c.others, c.name, got, c.want)
		}
	}
}

// TestFallback checks tensor_type_fallback for rows that are not whole k-quant blocks.
func TestFallback(t *testing.T) {
	for _, c := range []struct {
		t     ggml.Type
		ncols uint64
		want  ggml.Type
	}{
		{ggml.Q4_K, 4096, ggml.Q4_K}, {ggml.Q4_K, 320, ggml.Q5_0}, {ggml.Q5_K, 320, ggml.Q5_1},
		{ggml.Q6_K, 320, ggml.Q8_0}, {ggml.Q2_K, 320, ggml.Q4_0}, {ggml.Q3_K, 320, ggml.Q4_0},
		{ggml.Q4_K, 48, ggml.F16}, {ggml.Q8_0, 48, ggml.F16}, {ggml.Q8_0, 64, ggml.Q8_0},
	} {
		if got := fallback(c.t, c.ncols); got != c.want {
			t.Errorf("fallback(%s, %d) = %s, want %s", c.t, c.ncols, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(ParseMix("Q4_K_X")), `unknown GGUF type "Q4_K_X" (one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q2_K_S, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q3_K, Q4_K, Q5_K)`},
		{second(ParseOverride("ffn_down")), `override "ffn_down": want PATTERN=TYPE, e.g. blk\..*\.ffn_down=Q6_K`},
		{second(ParseOverride("ffn_down=")), `override "ffn_down=": want PATTERN=TYPE, e.g. blk\..*\.ffn_down=Q6_K`},
		{second(ParseOverride("ffn(=Q6_K")), "override \"ffn(=Q6_K\": error parsing regexp: missing closing ): `ffn(`"},
		{second(ParseOverride("ffn=IQ2_XXS")), `override "ffn=IQ2_XXS": IQ2_XXS is not a type qscript writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)`},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("error %v\nwant  %s", c.err, c.want)
		}
	}
	if m, err := ParseMix("q4_k"); err != nil || m.Name != "Q4_K_M" || m.FType != 15 {
		t.Errorf("ParseMix(q4_k) = %+v, %v; want the Q4_K_M alias (ftype 15)", m, err)
	}
}

func second[T any](_ T, err error) error { return err }
