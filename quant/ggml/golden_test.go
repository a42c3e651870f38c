package ggml_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/quant/ggml/internal/golden"
)

// allTypes are the supported types in ggml.h order.
var allTypes = []ggml.Type{ggml.F32, ggml.F16, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1, ggml.Q8_0,
	ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.BF16}

// TestGolden compares every block with ggml's own ggml_quantize_chunk output for the cases
// of testdata (made by scripts/fixtures/ggml_quant.c from libggml-base.so; see
// scripts/fixtures/ggml_golden.sh), with and without an importance matrix, and
// DequantizeRows with ggml's dequantize_row_* of the same bytes.
func TestGolden(t *testing.T) {
	set, err := golden.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range allTypes {
		for _, imatrix := range []bool{false, true} {
			res, err := set.Check(typ, imatrix)
			if errors.Is(err, fs.ErrNotExist) && imatrix {
				continue // ggml ignores the imatrix for this type
			}
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if res.Identical != res.Blocks || res.Blocks == 0 {
				t.Errorf("%s imatrix=%v: %d of %d blocks identical to ggml's; first differences:", typ, imatrix, res.Identical, res.Blocks)
				for _, m := range res.Mismatches {
					t.Log("  " + m)
				}
			}
			t.Logf("%s imatrix=%v: %d of %d blocks identical; %d dequantized values checked", typ, imatrix, res.Identical, res.Blocks, res.DequantN)
			if res.Dequant != "" {
				t.Errorf("%s imatrix=%v: DequantizeRows differs from ggml's: %s", typ, imatrix, res.Dequant)
			}
		}
	}
}
