package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxHeaderSize bounds the JSON header, as the reference implementation does (100 MB).
// A larger length prefix is refused before anything is allocated.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key that holds the string-to-string metadata.
const metadataKey = "__metadata__"

// rawEntry is one tensor's header record exactly as written, before validation.
type rawEntry struct {
	name       string
	dtype      string
	shape      []uint64
	begin, end uint64
}

// rawHeader is the parsed but not yet validated header.
type rawHeader struct {
	entries  []rawEntry
	metadata map[string]string
}

// parseHeader decodes the JSON header from r, reading at most n bytes. It checks syntax,
// key sets and duplicate names; the meaning of the values is checked by validate.
//
// encoding/json would silently keep the last of two equal keys, so the header is walked
// token by token instead of decoded into a map.
func parseHeader(r io.Reader, n int64) (*rawHeader, error) {
	dec := json.NewDecoder(&io.LimitedReader{R: r, N: n})
	dec.UseNumber()
	h := &rawHeader{metadata: map[string]string{}}
	seen := map[string]bool{}
	err := eachKey(dec, func(key string) (err error) {
		if seen[key] {
			if key == metadataKey {
				return fmt.Errorf("%w: %s appears twice", ErrInvalidMetadata, metadataKey)
			}
			return fmt.Errorf("tensor %q: %w", key, ErrDuplicateName)
		}
		seen[key] = true
		if key == metadataKey {
			h.metadata, err = parseMetadata(dec)
			return err
		}
		e, err := parseEntry(dec)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", key, err)
		}
		e.name = key
		h.entries = append(h.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidHeader)
	}
	return h, nil
}

// parseEntry reads {"dtype": ..., "shape": [...], "data_offsets": [b, e]}: exactly these
// keys, each once.
func parseEntry(dec *json.Decoder) (rawEntry, error) {
	var e rawEntry
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return e, err
		}
		if seen[key] {
			return e, fmt.Errorf("%w: key %q appears twice", ErrInvalidHeader, key)
		}
		seen[key] = true
		switch key {
		case "dtype":
			e.dtype, err = stringToken(dec)
		case "shape":
			e.shape, err = uintArray(dec, "shape")
			if err != nil {
				err = fmt.Errorf("%w: %w", ErrInvalidShape, err)
			}
		case "data_offsets":
			var offs []uint64
			offs, err = uintArray(dec, "data_offsets")
			if err == nil && len(offs) != 2 {
				err = fmt.Errorf("%w: want [begin, end], have %d numbers", ErrInvalidOffsets, len(offs))
			}
			if err == nil {
				e.begin, e.end = offs[0], offs[1]
			}
		default:
			err = fmt.Errorf("%w: unknown key %q", ErrInvalidHeader, key)
		}
		if err != nil {
			return e, err
		}
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[k] {
			return e, fmt.Errorf("%w: missing %q", ErrInvalidHeader, k)
		}
	}
	return e, expectDelim(dec, '}')
}

// parseMetadata reads the __metadata__ object, whose values must all be strings.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("%w: not an object", ErrInvalidMetadata)
	}
	meta := map[string]string{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := meta[key]; dup {
			return nil, fmt.Errorf("%w: key %q appears twice", ErrInvalidMetadata, key)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: value of %q is not a string", ErrInvalidMetadata, key)
		}
		meta[key] = s
	}
	return meta, expectDelim(dec, '}')
}

// uintArray reads a JSON array of non-negative integers.
func uintArray(dec *json.Decoder, what string) ([]uint64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	var out []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s holds %v, not a number", what, tok)
		}
		v, err := strconv.ParseUint(num.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s holds %s, not an integer in [0, 2^64)", what, num)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

// eachKey reads a JSON object, calling f with each key; f reads the value.
func eachKey(dec *json.Decoder, f func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if err := f(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", syntaxError(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: found %v where a string belongs", ErrInvalidHeader, tok)
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: found %v where %q belongs", ErrInvalidHeader, tok, want)
	}
	return nil
}

// syntaxError turns a decoder error into ErrInvalidHeader. io.EOF inside the object means
// the JSON stopped early.
func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: JSON ends early", ErrInvalidHeader)
	}
	return fmt.Errorf("%w: %v", ErrInvalidHeader, err)
}
