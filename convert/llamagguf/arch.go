package llamagguf

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/qscript-dev/qscript/formats/gguf"
)

// archByHF maps config.json's architectures to llama.cpp's (gguf-py MODEL_ARCH names).
var archByHF = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "llama",
	"Qwen2ForCausalLM":   "qwen2",
}

// maxVocab bounds vocab_size, which sizes the token list (the largest real vocabularies
// are about 256k).
const maxVocab = 1 << 24

// hparams are the config values the converter needs; arch is llama.cpp's name.
type hparams struct {
	arch                       string
	layers, hidden, ffn        int
	heads, kvHeads, ctx, vocab int
	headDim                    int // 0 unless config.json says head_dim
	ropeTheta                  float64
	rmsEps                     float64
	hasTheta, hasEps, hasCtx   bool
	hasKV                      bool
	rope                       map[string]any // rope_scaling / rope_parameters
}

// readHparams reads config.json the way convert_hf_to_gguf.py's TextModel does.
func readHparams(cfg map[string]any) (*hparams, error) {
	archs, _ := cfg["architectures"].([]any)
	var names []string
	for _, a := range archs {
		if s, ok := a.(string); ok {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("config.json names no architectures; the converter reads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM")
	}
	arch, ok := archByHF[names[0]]
	if !ok {
		return nil, fmt.Errorf("architecture %s is not supported; the converter reads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM", names[0])
	}
	h := &hparams{arch: arch}
	var err error
	geti := func(dst *int, keys ...string) {
		if err == nil {
			*dst, err = cfgInt(cfg, true, keys...)
		}
	}
	geti(&h.layers, "num_hidden_layers", "n_layers")
	geti(&h.hidden, "hidden_size", "n_embd", "dim")
	geti(&h.ffn, "intermediate_size", "n_inner", "hidden_dim")
	geti(&h.heads, "num_attention_heads", "n_head", "n_heads")
	geti(&h.vocab, "vocab_size")
	if err != nil {
		return nil, err
	}
	if h.kvHeads, err = cfgInt(cfg, false, "num_key_value_heads", "n_kv_heads"); err != nil {
		return nil, err
	}
	h.hasKV = h.kvHeads != 0
	if !h.hasKV {
		h.kvHeads = h.heads
	}
	if h.ctx, err = cfgInt(cfg, false, "max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"); err != nil {
		return nil, err
	}
	h.hasCtx = h.ctx != 0
	if h.headDim, err = cfgInt(cfg, false, "head_dim"); err != nil {
		return nil, err
	}
	if h.vocab > maxVocab {
		return nil, fmt.Errorf("config.json: vocab_size %d is more than the %d tokens the converter lists", h.vocab, maxVocab)
	}
	if h.heads <= 0 || h.kvHeads <= 0 || h.heads%h.kvHeads != 0 || h.layers <= 0 || h.hidden <= 0 {
		return nil, fmt.Errorf("config.json: %d layers, hidden size %d, %d heads and %d key/value heads do not make a model", h.layers, h.hidden, h.heads, h.kvHeads)
	}
	h.rope, _ = cfg["rope_parameters"].(map[string]any)
	if h.rope == nil {
		h.rope, _ = cfg["rope_scaling"].(map[string]any)
	}
	h.ropeTheta, h.hasTheta = cfgFloat(cfg, "rope_theta", "rotary_emb_base")
	if t, ok := cfgFloat(h.rope, "rope_theta"); ok {
		h.ropeTheta, h.hasTheta = t, true
	}
	h.rmsEps, h.hasEps = cfgFloat(cfg, "rms_norm_eps", "norm_eps")
	return h, h.checkRope()
}

// ropeType is rope_scaling's rope_type (or its older name, type), lower case.
func (h *hparams) ropeType() string {
	for _, k := range []string{"rope_type", "type"} {
		if s, ok := h.rope[k].(string); ok {
			return strings.ToLower(s)
		}
	}
	return ""
}

func (h *hparams) checkRope() error {
	switch h.ropeType() {
	case "", "default", "llama3":
		return nil
	case "linear":
		if _, ok := cfgFloat(h.rope, "factor"); ok {
			return nil
		}
	}
	return fmt.Errorf("config.json: rope scaling %v is not supported (the converter handles none, linear and llama3)", h.rope)
}

// rotaryDim is the per-head dimension RoPE rotates.
func (h *hparams) rotaryDim() int {
	if h.headDim != 0 {
		return h.headDim
	}
	return h.hidden / h.heads
}

// kvs returns the {arch}.* keys, as convert_hf_to_gguf.py's TextModel.set_gguf_parameters
// and LlamaModel's write them.
func (h *hparams) kvs() []gguf.KV {
	a := h.arch + "."
	kv := []gguf.KV{{Key: a + "block_count", Value: gguf.U32(uint32(h.layers))}}
	if h.hasCtx {
		kv = append(kv, gguf.KV{Key: a + "context_length", Value: gguf.U32(uint32(h.ctx))})
	}
	kv = append(kv,
		gguf.KV{Key: a + "embedding_length", Value: gguf.U32(uint32(h.hidden))},
		gguf.KV{Key: a + "feed_forward_length", Value: gguf.U32(uint32(h.ffn))},
		gguf.KV{Key: a + "attention.head_count", Value: gguf.U32(uint32(h.heads))})
	if h.hasKV {
		kv = append(kv, gguf.KV{Key: a + "attention.head_count_kv", Value: gguf.U32(uint32(h.kvHeads))})
	}
	if h.ropeType() == "linear" {
		f, _ := cfgFloat(h.rope, "factor")
		kv = append(kv, gguf.KV{Key: a + "rope.scaling.type", Value: gguf.Str("linear")},
			gguf.KV{Key: a + "rope.scaling.factor", Value: gguf.F32(float32(f))})
	}
	if h.hasTheta {
		kv = append(kv, gguf.KV{Key: a + "rope.freq_base", Value: gguf.F32(float32(h.ropeTheta))})
	}
	if h.hasEps {
		kv = append(kv, gguf.KV{Key: a + "attention.layer_norm_rms_epsilon", Value: gguf.F32(float32(h.rmsEps))})
	}
	if h.headDim != 0 {
		kv = append(kv, gguf.KV{Key: a + "attention.key_length", Value: gguf.U32(uint32(h.headDim))},
			gguf.KV{Key: a + "attention.value_length", Value: gguf.U32(uint32(h.headDim))})
	}
	if h.arch == "llama" { // LlamaModel adds these; Qwen2Model does not
		kv = append(kv, gguf.KV{Key: a + "vocab_size", Value: gguf.U32(uint32(h.vocab))},
			gguf.KV{Key: a + "rope.dimension_count", Value: gguf.U32(uint32(h.rotaryDim()))})
	}
	return kv
}

// ropeFreqs is the rope_freqs.weight tensor LlamaModel.generate_extra_tensors writes for
// llama3 rope scaling (Llama 3.1 and later): one factor per rotated pair.
func (h *hparams) ropeFreqs() []float32 {
	if h.ropeType() != "llama3" {
		return nil
	}
	get := func(k string, def float64) float64 {
		if v, ok := cfgFloat(h.rope, k); ok {
			return v
		}
		return def
	}
	base := 10000.0
	if h.hasTheta {
		base = h.ropeTheta
	}
	factor, lowF, highF := get("factor", 8), get("low_freq_factor", 1), get("high_freq_factor", 4)
	oldCtx := get("original_max_position_embeddings", 8192)
	lowWave, highWave := oldCtx/lowF, oldCtx/highF
	dim := h.rotaryDim()
	out := make([]float32, dim/2)
	for i := range out {
		// torch computes the frequencies in float32.
		freq := float32(1 / math.Pow(base, float64(float32(2*i)/float32(dim))))
		wave := 2 * math.Pi / float64(freq)
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (oldCtx/wave - lowF) / (highF - lowF)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// cfgInt returns the first of keys that config.json holds, as an int.
func cfgInt(cfg map[string]any, required bool, keys ...string) (int, error) {
	for _, k := range keys {
		v, ok := cfg[k]
		if !ok || v == nil {
			continue
		}
		n, isNum := v.(json.Number)
		i, err := strconv.Atoi(string(n))
		if !isNum || err != nil || i < 0 || i > math.MaxInt32 {
			return 0, fmt.Errorf("config.json: %s is %v, not a count", k, v)
		}
		return i, nil
	}
	if required {
		return 0, fmt.Errorf("config.json has no %s", strings.Join(keys, " or "))
	}
	return 0, nil
}

func cfgFloat(cfg map[string]any, keys ...string) (float64, bool) {
	for _, k := range keys {
		var f float64
		var err error
		switch v := cfg[k].(type) {
		case json.Number:
			f, err = v.Float64()
		case float64:
			f = v
		default:
			continue
		}
		if err == nil {
			return f, true
		}
	}
	return 0, false
}

// tensorName maps a Hugging Face tensor name to llama.cpp's (gguf-py tensor_mapping.py);
// ok is false for tensors llama.cpp does not load (rotary_emb.inv_freq).
func tensorName(hf string) (name string, ok bool) {
	switch hf {
	case "model.embed_tokens.weight":
		return "token_embd.weight", true
	case "model.norm.weight":
		return "output_norm.weight", true
	case "lm_head.weight":
		return "output.weight", true
	}
	m := layerRe.FindStringSubmatch(hf)
	if m == nil {
		return "", false
	}
	part, ok := layerParts[m[2]]
	if !ok {
		return "", false
	}
	return "blk." + m[1] + "." + part, true
}

var layerRe = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)

var layerParts = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"self_attn.q_proj.bias":           "attn_q.bias",
	"self_attn.k_proj.bias":           "attn_k.bias",
	"self_attn.v_proj.bias":           "attn_v.bias",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}
