// Command stscale is the Go half of bench/10-safetensors-scale.sh.
//
//	stscale gen OUT.safetensors GIB     writes GIB GiB of F32 tensors (64 MiB each), streaming
//	stscale rewrite IN OUT [load|section]
//	                                    copies IN to OUT through safetensors.WriteFile, one
//	                                    tensor at a time: "load" takes each tensor from the
//	                                    memory map (File.Load) and releases its pages once
//	                                    written (File.Release); "section" reads it with
//	                                    positioned reads into one reused buffer (File.Section)
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

const tensorBytes = 64 << 20

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stscale:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "gen":
		gib, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		return generate(args[1], gib)
	case len(args) == 4 && args[0] == "rewrite":
		return rewrite(args[1], args[2], args[3])
	}
	return fmt.Errorf("usage: stscale gen OUT GIB | stscale rewrite IN OUT load|section")
}

// generate writes gib GiB of 64 MiB F32 tensors, reusing one buffer.
func generate(path string, gib int) error {
	n := gib << 30 / tensorBytes
	infos := make([]tensor.Info, n)
	for i := range infos {
		infos[i] = tensor.Info{Name: fmt.Sprintf("layers.%03d.weight", i), DType: tensor.F32, Shape: []int{4096, tensorBytes / 4 / 4096}}
	}
	w, err := safetensors.Create(path, infos, map[string]string{"format": "pt", "generator": "bench/stscale"})
	if err != nil {
		return err
	}
	defer w.Abort()
	buf := make([]byte, tensorBytes)
	for i, info := range infos {
		for j := 0; j < len(buf); j += 4 {
			binary.LittleEndian.PutUint32(buf[j:], math.Float32bits(float32(i)+float32(j)*1e-9))
		}
		t, err := tensor.FromBytes(tensor.F32, info.Shape, buf)
		if err != nil {
			return err
		}
		if err := w.Write(info.Name, t); err != nil {
			return err
		}
	}
	return w.Close()
}

func rewrite(in, out, mode string) error {
	src, err := safetensors.OpenFile(in)
	if err != nil {
		return err
	}
	defer src.Close()
	// WriteFile asks for a tensor only after writing the one before, which is then done with.
	var previous string
	load := func(name string) (*tensor.Tensor, error) {
		if previous != "" {
			if err := src.Release(previous); err != nil {
				return nil, err
			}
		}
		previous = name
		return src.Load(name)
	}
	if mode == "section" {
		var buf []byte
		load = func(name string) (*tensor.Tensor, error) {
			info, _ := src.Info(name)
			sec, err := src.Section(name)
			if err != nil {
				return nil, err
			}
			if int64(cap(buf)) < sec.Size() {
				buf = make([]byte, sec.Size())
			}
			data := buf[:sec.Size()]
			if _, err := io.ReadFull(sec, data); err != nil {
				return nil, err
			}
			return tensor.FromBytes(info.DType, info.Shape, data)
		}
	} else if mode != "load" {
		return fmt.Errorf("unknown mode %q", mode)
	}
	return safetensors.WriteFile(context.Background(), out, src.Tensors(), src.Metadata(), load)
}
