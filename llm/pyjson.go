package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
)

// pyJSON encodes v as Python's json.dumps(v, indent=2, sort_keys=True) does (ASCII only,
// ": " and "," separators, empty containers as {} and []), which is how transformers and
// compressed-tensors write config.json. Numbers read from a file stay as they were
// written (json.Number).
func pyJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := pyEncode(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func pyEncode(b *bytes.Buffer, v any, depth int) error {
	if depth > 64 {
		return fmt.Errorf("json: nested deeper than 64 levels")
	}
	indent := func(d int) {
		b.WriteByte('\n')
		for range d {
			b.WriteString("  ")
		}
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(x.String())
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case string:
		pyString(b, x)
	case []string:
		list := make([]any, len(x))
		for i, s := range x {
			list[i] = s
		}
		return pyEncode(b, list, depth)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			if err := pyEncode(b, e, depth+1); err != nil {
				return err
			}
		}
		indent(depth)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			pyString(b, k)
			b.WriteString(": ")
			if err := pyEncode(b, x[k], depth+1); err != nil {
				return err
			}
		}
		indent(depth)
		b.WriteByte('}')
	default:
		return fmt.Errorf("json: cannot encode %T", v)
	}
	return nil
}

// pyString writes s as json.dumps(ensure_ascii=True) does: printable ASCII as is, the
// usual short escapes, everything else as \uXXXX (UTF-16 surrogate pairs above U+FFFF).
func pyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}
