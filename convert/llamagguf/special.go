package llamagguf

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qscript-dev/qscript/formats/gguf"
)

// specialTypes are gguf-py SpecialVocab's token types with a GGUF key, in its order.
var specialTypes = []struct{ typ, key string }{
	{"bos", "tokenizer.ggml.bos_token_id"},
	{"eos", "tokenizer.ggml.eos_token_id"},
	{"unk", "tokenizer.ggml.unknown_token_id"},
	{"sep", "tokenizer.ggml.seperator_token_id"}, // sic: llama.cpp's spelling
	{"pad", "tokenizer.ggml.padding_token_id"},
	{"mask", "tokenizer.ggml.mask_token_id"},
}

// specialVocab returns special token ids, add_{bos,eos,sep}_token and the chat template as
// gguf-py's SpecialVocab finds them: ids from tokenizer_config.json's *_token strings looked
// up among tokenizer.json's added tokens, then config.json's *_token_id, then (qscript's
// addition, for folders whose configs name none) generation_config.json's; the add flags
// from tokenizer.json's TemplateProcessing, overridden by tokenizer_config.json's add_*_token.
func specialVocab(dir string, tj *tokenizerJSON, cfg map[string]any, nVocab int) ([]gguf.KV, error) {
	var tc map[string]any
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var gen map[string]any
	if err := readJSON(filepath.Join(dir, "generation_config.json"), &gen); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ids := map[string]int{}
	set := func(typ string, id int, ok bool) {
		if _, done := ids[typ]; !done && ok && id >= 0 && id < nVocab {
			ids[typ] = id
		}
	}
	for _, s := range specialTypes {
		content, ok := tokenContent(tc[s.typ+"_token"])
		if !ok {
			continue
		}
		for _, a := range tj.AddedTokens {
			if a.Content == content {
				set(s.typ, a.ID, true)
				break
			}
		}
	}
	for _, src := range []map[string]any{cfg, gen} {
		for _, s := range specialTypes {
			id, ok := jsonInt(src[s.typ+"_token_id"])
			set(s.typ, id, ok)
		}
	}
	add := templateAddFlags(tj.PostProcessor, tc, ids, tj)
	for _, typ := range []string{"bos", "eos", "sep"} {
		if b, ok := tc["add_"+typ+"_token"].(bool); ok {
			add[typ] = b
		}
	}
	var kv []gguf.KV
	for _, s := range specialTypes {
		if id, ok := ids[s.typ]; ok {
			kv = append(kv, gguf.KV{Key: s.key, Value: gguf.U32(uint32(id))})
		}
	}
	for _, typ := range []string{"bos", "eos", "sep"} {
		if b, ok := add[typ]; ok {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_" + typ + "_token", Value: gguf.BoolVal(b)})
		}
	}
	tmpl, err := chatTemplate(dir, tc)
	if err != nil {
		return nil, err
	}
	if tmpl != "" {
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_template", Value: gguf.Str(tmpl)})
	}
	return kv, nil
}

// templateAddFlags reads a TemplateProcessing post-processor: a special token first in the
// single-sequence template that is the BOS token means add_bos_token, one last that is the
// EOS token means add_eos_token (gguf-py's "crude parsing", simple templates only).
func templateAddFlags(raw json.RawMessage, tc map[string]any, ids map[string]int, tj *tokenizerJSON) map[string]bool {
	add := map[string]bool{}
	type special struct {
		SpecialToken *struct{ ID string } `json:"SpecialToken"`
	}
	type proc struct {
		Type       string    `json:"type"`
		Single     []special `json:"single"`
		Processors []proc    `json:"processors"`
	}
	var root proc
	if len(raw) == 0 || json.Unmarshal(raw, &root) != nil {
		return add
	}
	procs := []proc{root}
	if len(root.Processors) > 0 {
		procs = root.Processors
	}
	idOf := func(content string) (int, bool) {
		for _, a := range tj.AddedTokens {
			if a.Content == content {
				return a.ID, true
			}
		}
		return 0, false
	}
	for _, p := range procs {
		if p.Type != "TemplateProcessing" || len(p.Single) < 2 {
			continue
		}
		if first := p.Single[0].SpecialToken; first != nil {
			id, ok := idOf(first.ID)
			bos, hasBOS := ids["bos"]
			add["bos"] = ok && hasBOS && id == bos
		}
		if last := p.Single[len(p.Single)-1].SpecialToken; last != nil {
			id, ok := idOf(last.ID)
			eos, hasEOS := ids["eos"]
			add["eos"] = ok && hasEOS && id == eos
		}
	}
	return add
}

// chatTemplate is tokenizer_config.json's chat_template (a string, or the "default" of a
// list of named templates), else chat_template.jinja, else chat_template.json's.
func chatTemplate(dir string, tc map[string]any) (string, error) {
	switch t := tc["chat_template"].(type) {
	case string:
		return t, nil
	case []any:
		for _, c := range t {
			if m, ok := c.(map[string]any); ok && m["name"] == "default" {
				s, _ := m["template"].(string)
				return s, nil
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return string(b), nil
	}
	var ct struct {
		ChatTemplate string `json:"chat_template"`
	}
	if err := readJSON(filepath.Join(dir, "chat_template.json"), &ct); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	return ct.ChatTemplate, nil
}

// tokenContent reads a *_token entry: a string or {"content": string}.
func tokenContent(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case map[string]any:
		s, ok := t["content"].(string)
		return s, ok
	}
	return "", false
}

// jsonInt reads an integer from json.Number (config.json) or float64 (other files).
func jsonInt(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(string(n))
		return i, err == nil
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	}
	return 0, false
}
