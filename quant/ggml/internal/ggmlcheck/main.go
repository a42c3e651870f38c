// Command ggmlcheck compares quant/ggml with a case folder written by
// scripts/fixtures/ggml_quant.c from ggml's own libggml-base.so: every block of every type,
// with and without the importance matrix, and DequantizeRows against ggml's dequantizers.
// interop/35-ggml-quant.sh runs it on fresh random matrices.
//
// Usage: go run ./quant/ggml/internal/ggmlcheck DIR...
//
// It prints one line per type, totalled over the folders, and exits 1 when any block or
// dequantized value differs, 2 when a folder cannot be read.
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

// total sums one type's results over the folders.
type total struct {
	blocks, identical, dequantN int
	dequant                     string
	mismatches                  []string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ggmlcheck DIR... (folders written by scripts/fixtures/ggml_quant.c)")
		os.Exit(2)
	}
	totals := map[string]*total{}
	var order []string
	elems, matrices := 0, 0
	lib := ""
	for _, dir := range os.Args[1:] {
		set, err := golden.Load(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ggmlcheck:", err)
			os.Exit(2)
		}
		lib = set.Lib
		for _, c := range set.Cases {
			elems += c.Rows * c.Cols
			matrices++
		}
		for _, t := range types {
			for _, imatrix := range []bool{false, true} {
				res, err := set.Check(t, imatrix)
				if imatrix && errors.Is(err, fs.ErrNotExist) {
					continue // ggml's quantizer for t ignores the imatrix
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "ggmlcheck: %s: %s: %v\n", dir, t, err)
					os.Exit(2)
				}
				label := t.String()
				if imatrix {
					label += " imatrix"
				}
				tt := totals[label]
				if tt == nil {
					tt = &total{}
					totals[label] = tt
					order = append(order, label)
				}
				tt.blocks += res.Blocks
				tt.identical += res.Identical
				tt.dequantN += res.DequantN
				if res.Dequant != "" && tt.dequant == "" {
					tt.dequant = dir + ": " + res.Dequant
				}
				tt.mismatches = append(tt.mismatches, res.Mismatches...)
			}
		}
	}
	fmt.Printf("ggml %s: %d matrices, %s weights\n", lib, matrices, commas(elems))
	failed := false
	for _, label := range order {
		tt := totals[label]
		deq := fmt.Sprintf("dequantize identical (%s values)", commas(tt.dequantN))
		if label == "F32" {
			deq = "(a copy)"
		} else if tt.dequant != "" {
			deq = "dequantize DIFFERS: " + tt.dequant
			failed = true
		}
		fmt.Printf("%-13s %s of %s blocks identical; %s\n", label+":", commas(tt.identical), commas(tt.blocks), deq)
		if tt.identical != tt.blocks {
			failed = true
			for i, m := range tt.mismatches {
				if i == 5 {
					break
				}
				fmt.Println("   ", m)
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
