package llamagguf

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/report"
)

// Report lists what Convert wrote, tensor by tensor, like llama-quantize's log.
type Report struct {
	Type, Source, Out string
	Tensors           []TensorReport
	SrcBytes, Bytes   uint64
}

// TensorReport is one tensor: its GGUF name, ggml dimensions, stored type and size in the
// input, and its type and size in the file.
type TensorReport struct {
	Name     string
	Dims     []uint64
	From, To string
	SrcBytes uint64
	Bytes    uint64
}

func (r *Report) add(t *srcTensor, to ggml.Type, n uint64) {
	r.Tensors = append(r.Tensors, TensorReport{Name: t.name, Dims: t.dims, From: t.from, To: to.String(), SrcBytes: t.srcBytes, Bytes: n})
	r.SrcBytes += t.srcBytes
	r.Bytes += n
}

// Print writes one line per tensor (name, dimensions, type and size before -> after) and
// the totals.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tDIMS\tTYPE\tSIZE")
	for _, t := range r.Tensors {
		dims := make([]string, len(t.Dims))
		for i, d := range t.Dims {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s -> %s\t%s -> %s\n", t.Name, strings.Join(dims, " x "), t.From, t.To, report.FormatBytes(t.SrcBytes), report.FormatBytes(t.Bytes))
	}
	tw.Flush()
	ratio := 0.0
	if r.SrcBytes > 0 {
		ratio = float64(r.Bytes) / float64(r.SrcBytes)
	}
	fmt.Fprintf(w, "%s: %d tensors, %s -> %s (%.1f%%), type %s\n", r.Out, len(r.Tensors), report.FormatBytes(r.SrcBytes), report.FormatBytes(r.Bytes), 100*ratio, r.Type)
}
