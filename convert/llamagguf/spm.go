package llamagguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/internal/paths"
)

// maxSPMModel bounds tokenizer.model (real ones are well under 10 MB).
const maxSPMModel = 64 << 20

// spmPiece is one SentencePiece ModelProto.pieces entry: piece (field 1), score (2) and type
// (3: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; absent means normal).
type spmPiece struct {
	piece string
	score float32
	typ   int32
}

// readSPM reads the pieces of a SentencePiece tokenizer.model (a protobuf ModelProto).
func readSPM(path string) ([]spmPiece, error) {
	data, err := paths.ReadLimited(path, maxSPMModel)
	if err != nil {
		return nil, err
	}
	var pieces []spmPiece
	err = protoFields(data, func(field int, wire int, v []byte, _ uint64) error {
		if field != 1 || wire != 2 {
			return nil
		}
		p := spmPiece{typ: 1}
		err := protoFields(v, func(field, wire int, b []byte, x uint64) error {
			switch {
			case field == 1 && wire == 2:
				p.piece = string(b)
			case field == 2 && wire == 5:
				p.score = math.Float32frombits(uint32(x))
			case field == 3 && wire == 0:
				p.typ = int32(x)
			}
			return nil
		})
		pieces = append(pieces, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: not a SentencePiece model: %w", path, err)
	}
	if len(pieces) == 0 {
		return nil, fmt.Errorf("%s: a SentencePiece model without pieces", path)
	}
	return pieces, nil
}

var errProto = errors.New("malformed protobuf")

// protoFields walks one protobuf message: fn gets each field's number, wire type, and its
// bytes (length-delimited) or value (varint, fixed32, fixed64).
func protoFields(b []byte, fn func(field, wire int, v []byte, x uint64) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errProto
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		var v []byte
		var x uint64
		switch wire {
		case 0:
			if x, n = binary.Uvarint(b); n <= 0 {
				return errProto
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errProto
			}
			x, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errProto
			}
			v, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errProto
			}
			x, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return errProto
		}
		if err := fn(field, wire, v, x); err != nil {
			return err
		}
	}
	return nil
}

// spmVocab is convert_hf_to_gguf.py's _create_vocab_sentencepiece: the pieces of
// tokenizer.model by id ("[PAD<i>]" unused with score -10000 up to vocab_size), then the
// tokens of added_tokens.json (user-defined) and of tokenizer_config.json's
// added_tokens_decoder (control when special or special-looking, else user-defined; score
// -1000 for both).
func spmVocab(dir string, pieces []spmPiece, vocabSize int) ([]gguf.KV, int, error) {
	n := vocabSize
	if n == 0 {
		n = len(pieces)
	}
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range n {
		tokens[i], scores[i], types[i] = fmt.Sprintf("[PAD%d]", i), -10000, tokUnused
	}
	for i, p := range pieces {
		if i >= n {
			break
		}
		t := int32(tokNormal)
		switch p.typ {
		case tokUnknown, tokControl, tokUnused, tokByte:
			t = p.typ
		}
		tokens[i], scores[i], types[i] = p.piece, p.score, t
	}
	var added map[string]int
	if err := readJSON(filepath.Join(dir, "added_tokens.json"), &added); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	for tok, id := range added {
		if id >= 0 && id < n {
			tokens[id], scores[id], types[id] = tok, -1000, tokUserDefined
		}
	}
	var tc struct {
		Decoder map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens_decoder"`
	}
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	for key, d := range tc.Decoder {
		id, err := strconv.Atoi(key)
		if err != nil || id < 0 || id >= n {
			continue
		}
		tok, typ := d.Content, int32(tokControl)
		if !d.Special && !looksSpecial(tok) {
			tok, typ = strings.ReplaceAll(tok, "\u2581", " "), tokUserDefined
		}
		tokens[id], scores[id], types[id] = tok, -1000, typ
	}
	return spmKVs(tokens, scores, types), n, nil
}
