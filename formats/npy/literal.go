package npy

import (
	"fmt"
	"strconv"
)

// The .npy header is a Python dict literal. numpy reads it with ast.literal_eval; this is
// the small subset numpy writes, parsed without evaluating anything: strings, True, False,
// integers (an old 'L' suffix allowed), tuples, lists and one dict at the top.

type pyTuple []any
type pyList []any

// maxNesting bounds tuple/list nesting, which only structured dtypes use.
const maxNesting = 16

type literalParser struct {
	text  []byte
	pos   int
	depth int
}

// parseLiteral parses the whole header text as a dict with string keys. Only spaces and
// newlines may follow the closing brace.
func parseLiteral(text []byte) (map[string]any, error) {
	p := &literalParser{text: text}
	p.skipSpace()
	if !p.eat('{') {
		return nil, p.errorf("header does not start with '{'")
	}
	dict := map[string]any{}
	for {
		p.skipSpace()
		if p.eat('}') {
			break
		}
		key, err := p.value()
		if err != nil {
			return nil, err
		}
		k, ok := key.(string)
		if !ok {
			return nil, p.errorf("dict key %s is not a string", describe(key))
		}
		if _, dup := dict[k]; dup {
			return nil, p.errorf("key '%s' appears twice", k)
		}
		p.skipSpace()
		if !p.eat(':') {
			return nil, p.errorf("expected ':' after key '%s'", k)
		}
		if dict[k], err = p.value(); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or '}'")
		}
	}
	p.skipSpace()
	if p.pos != len(p.text) {
		return nil, p.errorf("data after the closing '}'")
	}
	return dict, nil
}

func (p *literalParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.text) {
		return nil, p.errorf("header ends early")
	}
	switch c := p.text[p.pos]; {
	case c == '\'' || c == '"':
		return p.str(c)
	case c == '(' || c == '[':
		return p.sequence(c)
	case c >= '0' && c <= '9':
		return p.integer()
	case p.word("True"):
		return true, nil
	case p.word("False"):
		return false, nil
	default:
		return nil, p.errorf("unexpected character %q", c)
	}
}

// str reads a quoted string without escapes; numpy's descr and key names need none, and
// anything cleverer is refused rather than interpreted.
func (p *literalParser) str(quote byte) (string, error) {
	start := p.pos + 1
	for i := start; i < len(p.text); i++ {
		switch p.text[i] {
		case quote:
			p.pos = i + 1
			return string(p.text[start:i]), nil
		case '\\', '\n':
			return "", p.errorf("escapes and line breaks in strings are not supported")
		}
	}
	return "", p.errorf("unterminated string")
}

// sequence reads a tuple or list. A one-element tuple needs its trailing comma, as in
// Python, where (3) is just 3.
func (p *literalParser) sequence(open byte) (any, error) {
	closer := byte(')')
	if open == '[' {
		closer = ']'
	}
	if p.depth++; p.depth > maxNesting {
		return nil, p.errorf("nesting deeper than %d", maxNesting)
	}
	defer func() { p.depth-- }()
	p.pos++
	var items []any
	commas := 0
	for {
		p.skipSpace()
		if p.eat(closer) {
			break
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skipSpace()
		if p.eat(closer) {
			break
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or '%c'", closer)
		}
		commas++
	}
	if open == '[' {
		return pyList(items), nil
	}
	if len(items) == 1 && commas == 0 {
		return items[0], nil
	}
	return pyTuple(items), nil
}

func (p *literalParser) integer() (int64, error) {
	start := p.pos
	for p.pos < len(p.text) && p.text[p.pos] >= '0' && p.text[p.pos] <= '9' {
		p.pos++
	}
	v, err := strconv.ParseInt(string(p.text[start:p.pos]), 10, 64)
	if err != nil {
		return 0, p.errorf("integer %s out of range", p.text[start:p.pos])
	}
	if p.pos < len(p.text) && p.text[p.pos] == 'L' {
		p.pos++
	}
	return v, nil
}

func (p *literalParser) word(w string) bool {
	if len(p.text)-p.pos >= len(w) && string(p.text[p.pos:p.pos+len(w)]) == w {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *literalParser) eat(c byte) bool {
	if p.pos < len(p.text) && p.text[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *literalParser) skipSpace() {
	for p.pos < len(p.text) {
		switch p.text[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *literalParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrInvalidHeader, p.pos, fmt.Sprintf(format, args...))
}

// describe names a parsed value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + v + "'"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case pyTuple:
		return "a tuple"
	case pyList:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}
