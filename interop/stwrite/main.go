// Command stwrite is the Go half of interop/20-safetensors.sh: it reads the arrays of an
// .npz written by numpy and writes them to a safetensors file through qscript's streaming
// writer, adding "<name>.bf16" and "<name>.f16" casts of every F32 array so the script can
// compare qscript's rounding with torch's and numpy's.
//
//	go run ./interop/stwrite IN.npz OUT.safetensors
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: stwrite IN.npz OUT.safetensors")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "stwrite:", err)
		os.Exit(1)
	}
}

var casts = map[string]tensor.DType{".bf16": tensor.BF16, ".f16": tensor.F16}

func run(in, out string) error {
	src, err := npy.OpenNPZFile(in)
	if err != nil {
		return err
	}
	defer src.Close()
	var infos []tensor.Info
	for _, info := range src.Tensors() {
		infos = append(infos, info)
		if info.DType == tensor.F32 {
			for suffix, dt := range casts {
				infos = append(infos, tensor.Info{Name: info.Name + suffix, DType: dt, Shape: info.Shape})
			}
		}
	}
	meta := map[string]string{"source": "interop/stwrite", "arrays": fmt.Sprint(len(src.Tensors()))}
	return safetensors.WriteFile(context.Background(), out, infos, meta, func(name string) (*tensor.Tensor, error) {
		for suffix, dt := range casts {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				t, err := src.Load(base)
				if err != nil {
					return nil, err
				}
				return t.To(dt)
			}
		}
		return src.Load(name)
	})
}
