package llamagguf

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/tensor"
)

// srcTensor is one tensor to write, in output order, with what is needed to produce its
// rows as float32.
type srcTensor struct {
	name     string    // GGUF name
	dims     []uint64  // ggml order: dims[0] is the row length
	keep     ggml.Type // its type when it is not quantized
	from     string    // stored type, for the report ("BF16")
	srcBytes uint64
	open     func() (rowSource, error)
}

func (t *srcTensor) rows() (nrows, ncols int) {
	ncols = int(t.dims[0])
	nrows = 1
	for _, d := range t.dims[1:] {
		nrows *= int(d)
	}
	return nrows, ncols
}

// rowSource fills dst with rows [r0, r0+n) as float32. raw returns the stored bytes, for a
// tensor copied unchanged (ok false when it must be converted).
type rowSource interface {
	rows(dst []float32, r0, n int) error
	raw() ([]byte, bool)
	close()
}

// model is a converter's input: metadata, tensors in output order, and what the mix
// rules need to know about the model.
type model struct {
	kvs                []gguf.KV
	tensors            []*srcTensor
	arch               string
	nLayer, nHead, nKV int
	name               string
	closer             io.Closer
}

// openFolder reads a Hugging Face folder: config, tokenizer and weights, names mapped to
// llama.cpp's, q/k rows permuted for Llama's rotary layout.
func openFolder(dir string) (*model, error) {
	f, err := hf.Open(dir)
	if err != nil {
		return nil, err
	}
	m, err := folderModel(dir, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.closer = f
	return m, nil
}

func folderModel(dir string, f *hf.Folder) (*model, error) {
	h, err := readHparams(f.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	vocab, err := vocabKVs(dir, h, f.Config)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(filepath.Clean(dir))
	m := &model{arch: h.arch, nLayer: h.layers, nHead: h.heads, nKV: h.kvHeads, name: name}
	m.kvs = append([]gguf.KV{
		{Key: "general.architecture", Value: gguf.Str(h.arch)},
		{Key: "general.type", Value: gguf.Str("model")},
		{Key: "general.name", Value: gguf.Str(name)},
	}, h.kvs()...)
	m.kvs = append(m.kvs, vocab...)
	if freqs := h.ropeFreqs(); freqs != nil {
		m.tensors = append(m.tensors, f32Tensor("rope_freqs.weight", freqs))
	}
	byName := map[string]tensor.Info{}
	for _, info := range f.Tensors() {
		gname, ok := tensorName(info.Name)
		if !ok {
			if strings.HasSuffix(info.Name, "rotary_emb.inv_freq") {
				continue // recomputed by llama.cpp; the converter skips it too
			}
			return nil, fmt.Errorf("%s: tensor %q has no llama.cpp name for %s", dir, info.Name, h.arch)
		}
		byName[gname] = info
	}
	if _, ok := byName["output.weight"]; ok && f.TiedEmbeddings() {
		delete(byName, "output.weight") // tied: llama.cpp reads token_embd for the output
	}
	for _, gname := range llamaOrder(byName, h.layers) {
		t, err := hfTensor(f, byName[gname], gname, h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		m.tensors = append(m.tensors, t)
	}
	return m, nil
}

// llamaOrder sorts GGUF names as convert_hf_to_gguf.py writes them for a safetensors
// checkpoint: token_embd, then each block's tensors, then output_norm and output. (Its
// own order follows the shards; llama.cpp accepts any.)
func llamaOrder(names map[string]tensor.Info, layers int) []string {
	rank := func(n string) (int, string) {
		switch {
		case n == "token_embd.weight":
			return -1, n
		case n == "output_norm.weight":
			return layers, n
		case n == "output.weight":
			return layers + 1, n
		}
		var blk int
		var rest string
		if _, err := fmt.Sscanf(n, "blk.%d.%s", &blk, &rest); err != nil {
			return layers + 2, n
		}
		return blk, rest
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b string) int {
		ra, sa := rank(a)
		rb, sb := rank(b)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(sa, sb)
	})
	return out
}

var hfTypes = map[tensor.DType]ggml.Type{tensor.F32: ggml.F32, tensor.F16: ggml.F16, tensor.BF16: ggml.BF16}

func hfTensor(f *hf.Folder, info tensor.Info, gname string, h *hparams) (*srcTensor, error) {
	st, ok := hfTypes[info.DType]
	if !ok {
		return nil, fmt.Errorf("tensor %q is %v; the converter reads F32, F16 and BF16 weights", info.Name, info.DType)
	}
	if len(info.Shape) == 0 || len(info.Shape) > 2 {
		return nil, fmt.Errorf("tensor %q has shape %v; a Llama-family weight has 1 or 2 dimensions", info.Name, info.Shape)
	}
	dims := make([]uint64, len(info.Shape))
	n := uint64(1)
	for i, d := range info.Shape {
		dims[len(info.Shape)-1-i] = uint64(d)
		n *= uint64(d)
	}
	var perm func(int) int
	if h.arch == "llama" {
		switch {
		case strings.HasSuffix(gname, "attn_q.weight"):
			perm, ok = ropePermutation(info.Shape[0], h.heads)
		case strings.HasSuffix(gname, "attn_k.weight"):
			perm, ok = ropePermutation(info.Shape[0], h.kvHeads)
		}
		if !ok {
			return nil, fmt.Errorf("tensor %q: %d rows do not split into %d heads of pairs", info.Name, info.Shape[0], h.heads)
		}
	}
	t := &srcTensor{name: gname, dims: dims, keep: ggml.F32, from: info.DType.String(), srcBytes: n * uint64(info.DType.Size())}
	t.open = func() (rowSource, error) {
		tt, err := f.Load(info.Name)
		if err != nil {
			return nil, err
		}
		return &bytesRows{data: tt.Contiguous().Data, typ: st, ncols: int(dims[0]), perm: perm,
			release: func() { releaseTensor(f.Model, info.Name) }}, nil
	}
	return t, nil
}

// ropePermutation is convert_hf_to_gguf.py's LlamaModel.permute as a row map: within each
// head, transformers' rotary layout pairs row i with row i+half; llama.cpp's pairs
// neighbours, so output row 2i+j of a head is input row j*half+i.
func ropePermutation(rows, heads int) (func(int) int, bool) {
	if heads <= 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return nil, false
	}
	hd := rows / heads
	half := hd / 2
	return func(r int) int {
		h, rem := r/hd, r%hd
		return h*hd + (rem%2)*half + rem/2
	}, true
}

// releaseTensor lets a memory-mapped reader drop the pages of a tensor already written.
func releaseTensor(m formats.Model, name string) {
	if r, ok := m.(interface{ Release(string) error }); ok {
		r.Release(name)
	}
}

// bytesRows produces float32 rows from stored F32/F16/BF16 bytes, through an optional row
// permutation.
type bytesRows struct {
	data    []byte
	typ     ggml.Type
	ncols   int
	perm    func(int) int
	release func()
}

func (b *bytesRows) rows(dst []float32, r0, n int) error {
	rowBytes := b.ncols * b.typ.TypeSize()
	if b.perm == nil {
		return ggml.DequantizeRows(b.typ, dst[:n*b.ncols], b.data[r0*rowBytes:(r0+n)*rowBytes], n, b.ncols)
	}
	for i := range n {
		src := b.perm(r0 + i)
		if err := ggml.DequantizeRows(b.typ, dst[i*b.ncols:(i+1)*b.ncols], b.data[src*rowBytes:(src+1)*rowBytes], 1, b.ncols); err != nil {
			return err
		}
	}
	return nil
}

func (b *bytesRows) raw() ([]byte, bool) { return b.data, b.perm == nil }

func (b *bytesRows) close() {
	if b.release != nil {
		b.release()
	}
}

// f32Tensor is a tensor the converter computes (rope_freqs).
func f32Tensor(name string, v []float32) *srcTensor {
	data := make([]byte, 4*len(v))
	for i, x := range v {
		bits := math.Float32bits(x)
		data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	return &srcTensor{name: name, dims: []uint64{uint64(len(v))}, keep: ggml.F32, from: "F32", srcBytes: uint64(len(data)),
		open: func() (rowSource, error) { return &bytesRows{data: data, typ: ggml.F32, ncols: len(v)}, nil }}
}
