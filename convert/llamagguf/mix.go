package llamagguf

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/qscript-dev/qscript/quant/ggml"
)

// Mix is a llama-quantize file type: the type most tensors get, and the rules that give
// some tensors more bits.
type Mix struct {
	Name    string
	FType   uint32    // general.file_type (llama.h's llama_ftype)
	Default ggml.Type // llama_ftype_get_default_type
}

// mixes are llama-quantize's file types whose kernels quant/ggml has. Q3_K, Q4_K and Q5_K
// are its aliases for the _M mixes.
var mixes = []Mix{
	{"F32", 0, ggml.F32}, {"F16", 1, ggml.F16}, {"BF16", 32, ggml.BF16},
	{"Q4_0", 2, ggml.Q4_0}, {"Q4_1", 3, ggml.Q4_1}, {"Q5_0", 8, ggml.Q5_0}, {"Q5_1", 9, ggml.Q5_1},
	{"Q8_0", 7, ggml.Q8_0}, {"Q2_K", 10, ggml.Q2_K}, {"Q2_K_S", 21, ggml.Q2_K},
	{"Q3_K_S", 11, ggml.Q3_K}, {"Q3_K_M", 12, ggml.Q3_K}, {"Q3_K_L", 13, ggml.Q3_K},
	{"Q4_K_S", 14, ggml.Q4_K}, {"Q4_K_M", 15, ggml.Q4_K}, {"Q5_K_S", 16, ggml.Q5_K},
	{"Q5_K_M", 17, ggml.Q5_K}, {"Q6_K", 18, ggml.Q6_K},
}

var mixAliases = map[string]string{"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}

// ParseMix finds a file type by llama-quantize's name, ignoring case.
func ParseMix(name string) (Mix, error) {
	up := strings.ToUpper(name)
	if a, ok := mixAliases[up]; ok {
		up = a
	}
	for _, m := range mixes {
		if m.Name == up {
			return m, nil
		}
	}
	return Mix{}, fmt.Errorf("unknown GGUF type %q (one of %s)", name, MixNames())
}

// MixNames lists the accepted type names.
func MixNames() string {
	var names []string
	for _, m := range mixes {
		names = append(names, m.Name)
	}
	return strings.Join(append(names, "Q3_K", "Q4_K", "Q5_K"), ", ")
}

// Override gives the tensors whose names the pattern matches (anywhere, as
// llama-quantize's --tensor-type does with std::regex_search) a type.
type Override struct {
	Pattern *regexp.Regexp
	Type    ggml.Type
}

// ParseOverride reads "PATTERN=TYPE", e.g. `blk\..*\.ffn_down=Q6_K` or `attn_v=q8_0`.
func ParseOverride(s string) (Override, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return Override{}, fmt.Errorf("override %q: want PATTERN=TYPE, e.g. blk\\..*\\.ffn_down=Q6_K", s)
	}
	re, err := regexp.Compile(s[:i])
	if err != nil {
		return Override{}, fmt.Errorf("override %q: %w", s, err)
	}
	t, err := ggml.ParseType(s[i+1:])
	if err != nil || !t.Supported() {
		return Override{}, fmt.Errorf("override %q: %s is not a type qscript writes (%s)", s, s[i+1:], supportedTypes())
	}
	return Override{Pattern: re, Type: t}, nil
}

func supportedTypes() string {
	var names []string
	for _, t := range []ggml.Type{ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K} {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// category is llama-quant.cpp's tensor_category, by name.
type category int

const (
	catOther category = iota
	catOutput
	catTokenEmbd
	catAttnV
	catAttnK
	catAttnQ
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

func categoryOf(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

// planner chooses tensor types in file order, keeping llama-quantize's counters
// (quantize_state_impl): attn_v and ffn_down tensors are numbered as they come.
type planner struct {
	mix        Mix
	overrides  []Override
	pure       bool // llama-quantize --pure: no mix rules
	hasImatrix bool
	arch       string
	nLayer     int
	nGQA       int
	is70B      bool
	tied       bool // no output.weight: token_embd doubles as the output
	nAttnV     int
	iAttnV     int
	iFFNDown   int
}

// newPlanner counts what llama-quantize counts before choosing (init_quantize_state_counters).
func newPlanner(mix Mix, overrides []Override, pure, hasImatrix bool, arch string, nLayer, nHead, nHeadKV int, names []string) *planner {
	p := &planner{mix: mix, overrides: overrides, pure: pure, hasImatrix: hasImatrix, arch: arch, nLayer: nLayer, tied: true}
	if nHeadKV > 0 {
		p.nGQA = nHead / nHeadKV
	}
	p.is70B = nLayer == 80 && ((arch == "llama" && nHead != nHeadKV) || arch == "qwen2")
	for _, n := range names {
		switch categoryOf(n) {
		case catAttnV:
			p.nAttnV++
		case catOutput:
			p.tied = false
		}
	}
	return p
}

// quantizable is tensor_allows_quantization for the Llama family: 2-D or more, a weight,
// not a norm.
func quantizable(name string, dims []uint64) bool {
	return len(dims) >= 2 && strings.HasSuffix(name, "weight") && !strings.Contains(name, "_norm.weight") &&
		!strings.Contains(name, "ffn_gate_inp.weight")
}

// typeFor is llama_tensor_get_type: the type of the next tensor in file order. keep is the
// type a tensor that is not quantized keeps (F32 for 1-D tensors from a Hugging Face
// folder, as convert_hf_to_gguf.py writes them; the stored type for a GGUF input).
func (p *planner) typeFor(name string, dims []uint64, keep ggml.Type) ggml.Type {
	if !quantizable(name, dims) {
		return keep
	}
	t := p.mix.Default
	if !isQuantized(t) {
		return t
	}
	manual := false
	for _, o := range p.overrides {
		if o.Pattern.MatchString(name) {
			t, manual = o.Type, true
			break
		}
	}
	// As in llama-quantize, an override or --pure skips the rules and their counters.
	if !manual && !p.pure {
		t = p.mixRule(t, categoryOf(name), dims[0])
	}
	return fallback(t, dims[0])
}

func isQuantized(t ggml.Type) bool { return t != ggml.F32 && t != ggml.F16 && t != ggml.BF16 }

// useMoreBits is llama-quant.cpp's use_more_bits: the first and last eighth of the layers
// and every third layer between.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// mixRule is llama_tensor_get_type_impl for the non-IQ file types and a dense model.
func (p *planner) mixRule(t ggml.Type, cat category, ncols uint64) ggml.Type {
	f := p.mix.Name
	switch {
	case cat == catOutput || (p.tied && cat == catTokenEmbd):
		if ncols%uint64(t.BlockSize()) != 0 {
			return ggml.Q8_0
		}
		if t != ggml.Q8_0 {
			return ggml.Q6_K
		}
	case cat == catAttnV:
		t = p.attnV(t, f)
		p.iAttnV++
	case cat == catFFNDown:
		t = p.ffnDown(t, f, p.iFFNDown, p.nLayer)
		p.iFFNDown++
	case cat == catAttnOutput:
		switch f {
		case "Q2_K":
			t = ggml.Q3_K
		case "Q3_K_M":
			t = ggml.Q4_K
		case "Q3_K_L":
			t = ggml.Q5_K
		}
	}
	return t
}

func (p *planner) attnV(t ggml.Type, f string) ggml.Type {
	switch {
	case f == "Q2_K":
		t = ggml.Q3_K
		if p.nGQA >= 4 {
			t = ggml.Q4_K
		}
	case f == "Q2_K_S" && p.nGQA >= 4:
		t = ggml.Q4_K
	case f == "Q3_K_M":
		t = ggml.Q4_K
		if p.iAttnV < 2 {
			t = ggml.Q5_K
		}
	case f == "Q3_K_L":
		t = ggml.Q5_K
	case (f == "Q4_K_M" || f == "Q5_K_M") && useMoreBits(p.iAttnV, p.nAttnV):
		t = ggml.Q6_K
	case f == "Q4_K_S" && p.iAttnV < 4:
		t = ggml.Q5_K
	}
	if p.is70B && (t == ggml.Q3_K || t == ggml.Q4_K) {
		t = ggml.Q5_K
	}
	return t
}

func (p *planner) ffnDown(t ggml.Type, f string, i, n int) ggml.Type {
	switch {
	case f == "Q2_K":
		return ggml.Q3_K
	case f == "Q2_K_S":
		if i < n/8 {
			return ggml.Q4_K
		}
	case f == "Q3_K_M":
		if i < n/16 {
			return ggml.Q5_K
		}
		return ggml.Q4_K // Falcon's Q3_K branch does not apply to this family
	case f == "Q3_K_L":
		return ggml.Q5_K
	case f == "Q4_K_M":
		if useMoreBits(i, n) {
			return ggml.Q6_K
		}
	case f == "Q5_K_M" && useMoreBits(i, n):
		return ggml.Q6_K
	case f == "Q4_K_S" && i < n/8:
		return ggml.Q5_K
	case (f == "Q4_0" || f == "Q5_0") && p.hasImatrix && i < n/8:
		if f == "Q4_0" {
			return ggml.Q4_1
		}
		return ggml.Q5_1
	}
	return t
}

// fallback is tensor_type_fallback: a type whose blocks do not divide the row length gives
// way to a 32-element type, and F16 when even that does not fit.
func fallback(t ggml.Type, ncols uint64) ggml.Type {
	if ncols%uint64(t.BlockSize()) == 0 {
		return t
	}
	switch t {
	case ggml.Q2_K, ggml.Q3_K:
		t = ggml.Q4_0
	case ggml.Q4_K:
		t = ggml.Q5_0
	case ggml.Q5_K:
		t = ggml.Q5_1
	case ggml.Q6_K:
		t = ggml.Q8_0
	}
	if ncols%uint64(t.BlockSize()) != 0 {
		return ggml.F16
	}
	return t
}
