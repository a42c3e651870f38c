// Command ggufcmp compares the tensors of two GGUF files by name: type, dimensions and every
// byte of data. It prints one line per tensor that differs, then a summary; exit status 1
// when any tensor differs or is missing. interop/95-gguf-llama.sh uses it to hold qscript's
// files against llama.cpp's own quantizer.
//
//	go run ./interop/ggufcmp A.gguf B.gguf
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/qscript-dev/qscript/formats/gguf"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ggufcmp A.gguf B.gguf")
		os.Exit(2)
	}
	a, err := gguf.OpenFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	b, err := gguf.OpenFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bad, same := 0, 0
	for _, ta := range a.Tensors {
		tb, ok := b.Tensor(ta.Name)
		switch {
		case !ok:
			fmt.Printf("%s: missing from %s\n", ta.Name, os.Args[2])
		case ta.Type != tb.Type || !slices.Equal(ta.Dims, tb.Dims):
			fmt.Printf("%s: %s %v vs %s %v\n", ta.Name, ta.Type, ta.Dims, tb.Type, tb.Dims)
		default:
			da, db := read(a, ta.Name), read(b, ta.Name)
			if bytes.Equal(da, db) {
				same++
				continue
			}
			fmt.Printf("%s (%s): data differs\n", ta.Name, ta.Type)
		}
		bad++
	}
	if len(b.Tensors) != len(a.Tensors) {
		fmt.Printf("%d tensors vs %d\n", len(a.Tensors), len(b.Tensors))
		bad++
	}
	fmt.Printf("ggufcmp: %d tensors identical, %d differ\n", same, bad)
	if bad > 0 {
		os.Exit(1)
	}
}

func read(f *gguf.File, name string) []byte {
	s, err := f.Section(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	data, err := io.ReadAll(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return data
}
