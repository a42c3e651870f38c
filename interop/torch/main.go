// Command torch is the Go half of interop/10-torch.sh.
//
//	go run ./interop/torch write IN.npz OUT.pt
//
// reads numpy's arrays and writes them to a .pt file through qscript's writer, adding
// "<name>.bf16" and "<name>.f16" casts of every F32 array and "<name>.T", a transposed
// (strided) view of every 2-D array, so torch can check the writer's casts and its
// materialization of strided tensors.
//
//	go run ./interop/torch tosafetensors IN.pt OUT.safetensors
//
// reads a checkpoint torch wrote and writes its tensors, in file order, to safetensors.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"
	"github.com/qscript-dev/qscript/tensor"
)

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "write" && os.Args[1] != "tosafetensors") {
		fmt.Fprintln(os.Stderr, "usage: torch write IN.npz OUT.pt | torch tosafetensors IN.pt OUT.safetensors")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "write" {
		err = writePT(os.Args[2], os.Args[3])
	} else {
		err = toSafetensors(os.Args[2], os.Args[3])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop/torch:", err)
		os.Exit(1)
	}
}

var casts = map[string]tensor.DType{".bf16": tensor.BF16, ".f16": tensor.F16}

func writePT(in, out string) error {
	src, err := npy.OpenNPZFile(in)
	if err != nil {
		return err
	}
	defer src.Close()
	var names []string
	for _, info := range src.Tensors() {
		names = append(names, info.Name)
		if info.DType == tensor.F32 {
			names = append(names, info.Name+".bf16", info.Name+".f16")
		}
		if len(info.Shape) == 2 {
			names = append(names, info.Name+".T")
		}
	}
	return torch.Write(context.Background(), out, names, func(name string) (*tensor.Tensor, error) {
		if base, ok := strings.CutSuffix(name, ".T"); ok {
			t, err := src.Load(base)
			if err != nil {
				return nil, err
			}
			t = t.Contiguous()
			return &tensor.Tensor{DType: t.DType, Shape: []int{t.Shape[1], t.Shape[0]},
				Strides: []int{1, t.Shape[1]}, Data: t.Data}, nil
		}
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

func toSafetensors(in, out string) error {
	src, err := torch.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	return safetensors.WriteFile(context.Background(), out, src.Tensors(), src.Metadata(), src.Load)
}
