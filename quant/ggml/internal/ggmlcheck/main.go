// Command ggmlcheck compares quant/ggml with a case folder written by
// scripts/fixtures/ggml_quant.c from ggml's own libggml-base.so: every block of every type,
// with and without the importance matrix, and DequantizeRows against ggml's dequantizers.
// interop/35-ggml-quant.sh runs it on fresh random matrices.
//
// Usage: go run ./quant/ggml/internal/ggmlcheck DIR
//
// It prints one line per type and exits 1 when any block or dequantized value differs,
// 2 when the folder cannot be read.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/quant/ggml/internal/golden"
)

var types = []ggml.Type{ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0,
	ggml.Q5_1, ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ggmlcheck DIR (a folder written by scripts/fixtures/ggml_quant.c)")
		os.Exit(2)
	}
	set, err := golden.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ggmlcheck:", err)
		os.Exit(2)
	}
	elems := 0
	for _, c := range set.Cases {
		elems += c.Rows * c.Cols
	}
	fmt.Printf("ggml %s: %d matrices, %s weights\n", set.Lib, len(set.Cases), commas(elems))
	failed := false
	for _, t := range types {
		for _, imatrix := range []bool{false, true} {
			res, err := set.Check(t, imatrix)
			if imatrix && errors.Is(err, fs.ErrNotExist) {
				continue // ggml's quantizer for t ignores the imatrix
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "ggmlcheck: %s: %v\n", t, err)
				os.Exit(2)
			}
			label := t.String()
			if imatrix {
				label += " imatrix"
			}
			deq := "dequantize identical"
			if t == ggml.F32 {
				deq = "(copy)"
			} else if res.Dequant != "" {
				deq = "dequantize DIFFERS: " + res.Dequant
				failed = true
			}
			fmt.Printf("%-13s %s of %s blocks identical; %s (%s values)\n", label+":", commas(res.Identical),
				commas(res.Blocks), deq, commas(res.DequantN))
			if res.Identical != res.Blocks {
				failed = true
				for _, m := range res.Mismatches {
					fmt.Println("   ", m)
				}
			}
		}
	}
	if failed {
		fmt.Fprintln(os.Stderr, "ggmlcheck: quant/ggml differs from ggml")
		os.Exit(1)
	}
}

func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
