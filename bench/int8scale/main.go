// Command int8scale writes the checkpoint of bench/40-int8-dynamic-scale.sh and
// bench/45-weight-only-floor.sh:
//
//	int8scale OUT.safetensors GIB    a Linear-only f32 checkpoint with 7B-like shapes
//
// Decoder blocks fill GIB less a 32000×4096 lm_head (524 MB, the largest tensor, as in a
// 7B model), which comes last: GIB=2 gives two blocks and the head, 2.14 GB.
//
// which the built-in recipe int8_dynamic.lua then quantizes through the CLI. It streams:
// one tensor is in memory at a time, filled from a fixed-seed generator, so the file is
// the same on every run.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

const (
	hidden       = 4096
	intermediate = 11008
	vocab        = 32000
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: int8scale OUT.safetensors GIB")
		os.Exit(2)
	}
	gib, err := strconv.ParseFloat(os.Args[2], 64)
	if err != nil || gib <= 0 {
		fmt.Fprintf(os.Stderr, "int8scale: GIB must be a positive number, got %q\n", os.Args[2])
		os.Exit(2)
	}
	if err := gen(os.Args[1], int64(gib*(1<<30))); err != nil {
		fmt.Fprintln(os.Stderr, "int8scale:", err)
		os.Exit(1)
	}
}

// layout lists the Linear weights of decoder blocks (attention q/k/v/o 4096×4096, MLP
// gate/up 11008×4096 and down 4096×11008) until size bytes less the lm_head are reached,
// then the lm_head.
func layout(size int64) []tensor.Info {
	head := tensor.Info{Name: "lm_head.weight", DType: tensor.F32, Shape: []int{vocab, hidden}}
	infos := blocks(size - int64(vocab)*hidden*4)
	return append(infos, head)
}

func blocks(size int64) []tensor.Info {
	var infos []tensor.Info
	var total int64
	for block := 0; ; block++ {
		for _, l := range []struct {
			name    string
			out, in int
		}{
			{"self_attn.q_proj", hidden, hidden}, {"self_attn.k_proj", hidden, hidden},
			{"self_attn.v_proj", hidden, hidden}, {"self_attn.o_proj", hidden, hidden},
			{"mlp.gate_proj", intermediate, hidden}, {"mlp.up_proj", intermediate, hidden},
			{"mlp.down_proj", hidden, intermediate},
		} {
			bytes := int64(l.out) * int64(l.in) * 4
			if total+bytes > size {
				return infos
			}
			total += bytes
			infos = append(infos, tensor.Info{Name: fmt.Sprintf("model.layers.%d.%s.weight", block, l.name),
				DType: tensor.F32, Shape: []int{l.out, l.in}})
		}
	}
}

func gen(path string, size int64) error {
	infos := layout(size)
	var buf []float32
	state := uint64(0x9E3779B97F4A7C15)
	return safetensors.WriteFile(context.Background(), path, infos, map[string]string{"format": "pt"},
		func(name string) (*tensor.Tensor, error) {
			info := infos[0]
			for _, i := range infos {
				if i.Name == name {
					info = i
				}
			}
			n := info.Shape[0] * info.Shape[1]
			if cap(buf) < n {
				buf = make([]float32, n)
			}
			buf = buf[:n]
			// Roughly N(0, 0.02) by summing two uniforms (triangular), with a few outliers
			// per row as real LLM weights have; xorshift keeps it fast and reproducible.
			for i := range buf {
				state ^= state << 13
				state ^= state >> 7
				state ^= state << 17
				a := float32(state&0xFFFFFF) / (1 << 24)
				b := float32((state>>24)&0xFFFFFF) / (1 << 24)
				buf[i] = (a + b - 1) * 0.035
				if state>>58 == 0 {
					buf[i] *= 8
				}
			}
			return tensor.FromF32(info.Shape, buf), nil
		})
}
