// Command quantize runs qscript's model-level weight quantization from the command line,
// for interop checks against PyTorch until the built-in recipes exist:
//
//	go run ./interop/quantize -dtype int8 -skip conv1 -layout fake IN OUT
//
// It prints the report table on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/quantize"
)

func main() {
	dtype := flag.String("dtype", "int8", "weight dtype: "+strings.Join(quantize.WeightDTypes, ", "))
	perChannel := flag.Bool("per-channel", true, "one scale per output channel")
	symmetric := flag.Bool("symmetric", true, "symmetric qparams")
	groupSize := flag.Int("group-size", 0, "group size (0: dtype default)")
	skip := flag.String("skip", "", "comma-separated layer names or globs to keep in float")
	layout := flag.String("layout", quantize.LayoutCompressed, "compressed or fake")
	report := flag.Bool("report", false, "print the report")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: quantize [flags] IN OUT")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *dtype, *perChannel, *symmetric, *groupSize, *skip, *layout, *report); err != nil {
		fmt.Fprintln(os.Stderr, "quantize:", err)
		os.Exit(1)
	}
}

func run(in, out, dtype string, perChannel, symmetric bool, groupSize int, skip, layout string, report bool) error {
	ctx := context.Background()
	m, err := formats.Open(in)
	if err != nil {
		return err
	}
	defer m.Close()
	opts := quantize.DefaultOptions()
	opts.Weights = quantize.WeightOptions{DType: dtype, PerChannel: perChannel, Symmetric: symmetric, GroupSize: groupSize}
	if skip != "" {
		opts.Skip = quantize.Names(strings.Split(skip, ",")...)
	}
	q, err := quantize.Quantize(ctx, m, opts)
	if err != nil {
		return err
	}
	if report {
		r, err := q.Report(ctx)
		if err != nil {
			return err
		}
		fmt.Print(r.String())
	}
	return q.Save(ctx, out, quantize.SaveOptions{Layout: layout})
}
