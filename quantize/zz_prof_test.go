package quantize

import (
	"context"
	"os"
	"testing"
)

func TestZZProfile(t *testing.T) {
	src := os.Getenv("ZZ_MODEL")
	if src == "" {
		t.Skip()
	}
	opts := DefaultOptions()
	switch os.Getenv("ZZ_DTYPE") {
	case "int4":
		opts.Weights = WeightOptions{DType: DTypeInt4, Symmetric: true, GroupSize: 128}
	case "fp8":
		opts.Weights = WeightOptions{DType: DTypeFP8E4M3, PerChannel: true, Symmetric: true}
	case "fp16":
		opts.Weights = WeightOptions{DType: DTypeFP16}
	case "bf16":
		opts.Weights = WeightOptions{DType: DTypeBF16}
	default:
		opts.Weights = WeightOptions{DType: DTypeInt8, PerChannel: true, Symmetric: true}
	}
	for range 3 {
		q, err := PlanWeights(context.Background(), openModel(t, src), opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Save(context.Background(), "/tmp/onepass/prof.safetensors", SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Report(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
