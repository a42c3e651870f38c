package llamagguf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/internal/paths"
)

// Token types, as gguf-py's TokenType (llama.cpp's llama_token_type).
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// maxTokenizerJSON bounds tokenizer.json (the largest real ones are ~20 MB).
const maxTokenizerJSON = 256 << 20

// tokenizerJSON is the part of Hugging Face tokenizers' tokenizer.json the converter reads.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Model struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		IgnoreMerges bool            `json:"ignore_merges"`
	} `json:"model"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       struct {
		Type string `json:"type"`
	} `json:"decoder"`
}

// vocabKVs reads dir's tokenizer.json (and tokenizer_config.json, config.json) and returns
// the tokenizer.* keys convert_hf_to_gguf.py writes: for a byte-level BPE (GPT-2 style,
// Llama 3, Qwen2) the "gpt2" model with its pre-tokenizer, tokens, token types and merges;
// for a SentencePiece-style BPE with byte fallback (Llama 2, Mistral) the "llama" model
// with scores, as gguf-py's LlamaHfVocab does; a tokenizer.model, when present, wins (the
// "llama" model with the SentencePiece scores). Then special token ids, add_*_token flags
// and the chat template (gguf-py's SpecialVocab).
func vocabKVs(dir string, h *hparams, cfg map[string]any) ([]gguf.KV, error) {
	kv, err := tokenizerKVs(dir, h, cfg)
	if err != nil || h.arch != "llama" {
		return kv, err
	}
	// LlamaModel.set_vocab (not Qwen2's): tokenizer_config.json's add_prefix_space.
	var tc struct {
		AddPrefixSpace *bool `json:"add_prefix_space"`
	}
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err == nil && tc.AddPrefixSpace != nil {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Value: gguf.BoolVal(*tc.AddPrefixSpace)})
	}
	return kv, nil
}

func tokenizerKVs(dir string, h *hparams, cfg map[string]any) ([]gguf.KV, error) {
	path := filepath.Join(dir, "tokenizer.json")
	var tj tokenizerJSON
	jsonErr := readJSON(path, &tj)
	if jsonErr != nil && !errors.Is(jsonErr, os.ErrNotExist) {
		return nil, jsonErr
	}
	// As convert_hf_to_gguf.py: a SentencePiece tokenizer.model comes first.
	if pieces, err := readSPM(filepath.Join(dir, "tokenizer.model")); err == nil {
		kv, n, err := spmVocab(dir, pieces, h.vocab)
		if err != nil {
			return nil, err
		}
		special, err := specialVocab(dir, &tj, cfg, n)
		if err != nil {
			return nil, err
		}
		return append(kv, special...), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("%s: no tokenizer.json and no tokenizer.model", dir)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %q; the converter reads BPE tokenizers", path, tj.Model.Type)
	}
	tokens, types, err := baseVocab(&tj, h.vocab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var kv []gguf.KV
	if tj.Model.ByteFallback && !tj.Model.IgnoreMerges && tj.Decoder.Type == "Sequence" {
		kv = llamaVocab(tokens, types, &tj)
	} else {
		pre, err := preTokenizer(tj.PreTokenizer)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		merges, err := parseMerges(tj.Model.Merges)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		kv = []gguf.KV{
			{Key: "tokenizer.ggml.model", Value: gguf.Str("gpt2")},
			{Key: "tokenizer.ggml.pre", Value: gguf.Str(pre)},
			{Key: "tokenizer.ggml.tokens", Value: gguf.Strs(tokens)},
			{Key: "tokenizer.ggml.token_type", Value: gguf.I32s(types)},
			{Key: "tokenizer.ggml.merges", Value: gguf.Strs(merges)},
		}
	}
	special, err := specialVocab(dir, &tj, cfg, len(tokens))
	if err != nil {
		return nil, err
	}
	return append(kv, special...), nil
}

// baseVocab lists vocab_size tokens by id: ids nobody uses are "[PAD<id>]" (unused);
// added tokens are control tokens when special (or when they look like <...>), else
// user-defined (gguf-py get_vocab_base).
func baseVocab(tj *tokenizerJSON, vocabSize int) ([]string, []int32, error) {
	n := vocabSize
	byID := map[int]string{}
	for tok, id := range tj.Model.Vocab {
		byID[id] = tok
	}
	added := map[int]bool{}
	special := map[int]bool{}
	for _, a := range tj.AddedTokens {
		byID[a.ID] = a.Content
		added[a.ID] = true
		special[a.ID] = a.Special
	}
	for id := range byID {
		if id < 0 || id >= n {
			return nil, nil, fmt.Errorf("token id %d is outside config.json's vocab_size %d", id, n)
		}
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range n {
		tok, ok := byID[i]
		switch {
		case !ok:
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokUnused
		case added[i] && (special[i] || looksSpecial(tok)):
			tokens[i], types[i] = tok, tokControl
		case added[i]:
			tokens[i], types[i] = strings.ReplaceAll(tok, "\u2581", " "), tokUserDefined
		default:
			tokens[i], types[i] = tok, tokNormal
		}
	}
	return tokens, types, nil
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special: added tokens some models
// forget to mark special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>")) ||
		(strings.HasPrefix(t, "<｜") && strings.HasSuffix(t, "｜>")) ||
		(strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">"))
}

var byteToken = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// llamaVocab is gguf-py's LlamaHfVocab: the "llama" (SentencePiece) tokenizer model with
// <0xNN> byte tokens and the score it gives every token (-1000); an added token is a control
// token only when special (no <...> heuristic there).
func llamaVocab(tokens []string, types []int32, tj *tokenizerJSON) []gguf.KV {
	for _, a := range tj.AddedTokens {
		if !a.Special && a.ID >= 0 && a.ID < len(types) {
			types[a.ID] = tokUserDefined
		}
	}
	scores := make([]float32, len(tokens))
	for i, t := range tokens {
		scores[i] = -1000
		if types[i] == tokNormal && byteToken.MatchString(t) {
			types[i] = tokByte
		}
	}
	return spmKVs(tokens, scores, types)
}

// spmKVs are the vocabulary keys of a SentencePiece ("llama") tokenizer, from a
// tokenizer.model or a tokenizer.json alike.
func spmKVs(tokens []string, scores []float32, types []int32) []gguf.KV {
	return []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: gguf.Str("llama")},
		{Key: "tokenizer.ggml.pre", Value: gguf.Str("default")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Strs(tokens)},
		{Key: "tokenizer.ggml.scores", Value: gguf.F32s(scores)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.I32s(types)},
	}
}

// Pre-tokenizer regexes of tokenizer.json and the tokenizer.ggml.pre names llama.cpp gives
// them (llama-vocab.cpp; convert_hf_to_gguf_update.py names the models).
var preTokenizers = []struct{ regex, name string }{
	{`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, "llama-bpe"},
	{`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, "qwen2"},
}

// preTokenizer names the pre-tokenizer. llama.cpp's converter hashes the token ids of a test
// string, which needs the tokenizers library; reading the regex says the same for the
// tokenizers it knows and refuses the others rather than guessing.
func preTokenizer(raw json.RawMessage) (string, error) {
	type node struct {
		Type          string          `json:"type"`
		Pretokenizers []node          `json:"pretokenizers"`
		Pattern       json.RawMessage `json:"pattern"`
		UseRegex      *bool           `json:"use_regex"`
	}
	var root node
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("no pre_tokenizer: cannot tell llama.cpp how to split text")
	}
	if err := json.Unmarshal(raw, &root); err != nil {
		return "", fmt.Errorf("pre_tokenizer: %w", err)
	}
	list := []node{root}
	if root.Type == "Sequence" {
		list = root.Pretokenizers
	}
	var regexes []string
	gpt2 := false
	for _, n := range list {
		switch n.Type {
		case "Split":
			var p struct{ Regex string }
			if json.Unmarshal(n.Pattern, &p) == nil && p.Regex != "" {
				regexes = append(regexes, p.Regex)
			}
		case "ByteLevel":
			gpt2 = n.UseRegex == nil || *n.UseRegex
		}
	}
	if len(regexes) == 1 && !gpt2 {
		for _, p := range preTokenizers {
			if p.regex == regexes[0] {
				return p.name, nil
			}
		}
	}
	if len(regexes) == 0 && gpt2 {
		return "gpt-2", nil
	}
	return "", fmt.Errorf("pre-tokenizer %s is not one the converter knows (Llama 3's, Qwen2's, GPT-2's)", strings.Join(regexes, " + "))
}

// parseMerges accepts both merge formats: "a b" strings, and [a, b] pairs (transformers >=
// 4.45), whose spaces gguf-py writes as chr(ord(' ') + 256), U+0120.
func parseMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("a BPE tokenizer without merges")
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil {
		return strs, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("merges are neither strings nor pairs of strings")
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts, not 2", i, len(p))
		}
		out[i] = strings.ReplaceAll(p[0], " ", "\u0120") + " " + strings.ReplaceAll(p[1], " ", "\u0120")
	}
	return out, nil
}

func readJSON(path string, v any) error {
	data, err := paths.ReadLimited(path, maxTokenizerJSON)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
