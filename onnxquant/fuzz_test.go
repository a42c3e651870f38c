package onnxquant

import (
	"context"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/quantize"
)

// FuzzRewrite: any model the ONNX reader accepts is rewritten in every form, or refused
// with an error, never a panic.
func FuzzRewrite(f *testing.F) {
	for _, p := range []string{encoderPath, "../examples/models/digits_cnn.onnx"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	dtypes := []string{quantize.DTypeFP16, quantize.DTypeBF16, quantize.DTypeInt8, quantize.DTypeInt4, quantize.DTypeUInt4}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		m, err := onnx.Decode(data, "")
		if err != nil {
			return
		}
		defer m.Close()
		qo := weightOptions(dtypes[int(pick)%len(dtypes)], 32, pick%2 == 0)
		o := DefaultOptions()
		if pick%3 == 0 {
			o.Int4Form = FormDequantizeLinear
		}
		_, _ = Rewrite(context.Background(), m, qo, o)
	})
}
