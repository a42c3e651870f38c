package llamagguf

import (
	"bytes"
	"testing"
)

// FuzzImatrixDat reads arbitrary bytes as a legacy imatrix .dat: never a panic, and never
// more values than the file holds.
func FuzzImatrixDat(f *testing.F) {
	f.Add(legacyDat(map[string][]float32{"blk.0.attn_q.weight": {2, 4, 6}}, 2, true))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 127})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readLegacyImatrix(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		n := 0
		for _, v := range m.Entries {
			n += 4 * len(v)
		}
		if n > len(b) {
			t.Fatalf("%d bytes of values from a %d-byte file", n, len(b))
		}
	})
}

// FuzzSentencePiece walks arbitrary bytes as a ModelProto: never a panic.
func FuzzSentencePiece(f *testing.F) {
	f.Add(spmModel([]spmPiece{{"<unk>", 0, 2}, {"▁a", -1, 1}}, []bool{true, false}))
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_ = protoFields(b, func(field, wire int, v []byte, _ uint64) error {
			total += len(v)
			return protoFields(v, func(int, int, []byte, uint64) error { return nil })
		})
		if total > len(b) {
			t.Fatalf("%d bytes of fields from %d", total, len(b))
		}
	})
}
