package quant

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// Parity with Debian's torch 1.13 (testdata/torch_quant.json.gz, made by
// scripts/fixtures/quant_torch.py).
//
// Which quantize kernel is matched: this torch build has no fbgemm (its engines are
// qnnpack, onednn and none), so quantize_per_tensor and quantize_per_channel run ATen's
// generic quantize_val: zp + nearbyint(x * (1.0f / (float)scale)), a float32 reciprocal
// multiply rounded half to even, then clamped to the dtype. That is the same arithmetic
// as fbgemm's Quantize, and it is what qscript's Torch numerics compute. The 400
// constructed ties below, where x*(1/scale) is exactly k+0.5 in float32, pin it down:
// dividing instead would round many of them the other way. One deliberate difference is
// outside these fixtures: for |x/scale| beyond 2^63 or NaN, torch's cast to int64 is
// undefined and yields qmin; qscript saturates and refuses NaN/Inf.

type torchFixture struct {
	Torch   string
	Engines []string
	Inputs  map[string]struct {
		Shape []int
		Data  string
	}
	Observers []struct {
		Input       string
		Observer    string
		DType       string
		ReduceRange bool `json:"reduce_range"`
		Symmetric   bool
		Axis        int
		Min, Max    string
		Scale       string
		ZeroPoint   []int32 `json:"zero_point"`
		Codes       string
		Dequantized string
	}
	Ties []struct {
		X, Scale  string
		ZeroPoint int32 `json:"zero_point"`
		DType     string
		Code      int
	}
	Casts struct {
		Input, Half, Bfloat16 string
	}
}

func loadTorchFixture(t *testing.T) *torchFixture {
	t.Helper()
	f, err := os.Open("testdata/torch_quant.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var fx torchFixture
	if err := json.NewDecoder(zr).Decode(&fx); err != nil {
		t.Fatal(err)
	}
	return &fx
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexF32(t *testing.T, s string) []float32 {
	b := hexBytes(t, s)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func hexU16(t *testing.T, s string) []uint16 {
	b := hexBytes(t, s)
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

// narrow copies x[..., lo:hi] along dim of a 2-D [r, c] tensor.
func narrow(x []float32, r, c, dim, lo, hi int) *tensor.Tensor {
	var out []float32
	if dim == 0 {
		out = append(out, x[lo*c:hi*c]...)
		return tensor.FromF32([]int{hi - lo, c}, out)
	}
	for i := 0; i < r; i++ {
		out = append(out, x[i*c+lo:i*c+hi]...)
	}
	return tensor.FromF32([]int{r, hi - lo}, out)
}

// batches mirrors batches_rows / batches_cols of the generator.
func batches(x []float32, shape []int, perChannel bool, axis int) []*tensor.Tensor {
	r, c := shape[0], shape[1]
	dim, n := 0, r
	if perChannel {
		dim = 1 - axis
		n = shape[dim]
	}
	if n < 3 {
		return []*tensor.Tensor{tensor.FromF32(shape, append([]float32{}, x...))}
	}
	cuts := []int{0, 1, 3, n}
	if perChannel {
		cuts = []int{0, n / 3, 2 * n / 3, n}
	}
	var out []*tensor.Tensor
	for i := 0; i < 3; i++ {
		out = append(out, narrow(x, r, c, dim, cuts[i], cuts[i+1]))
	}
	return out
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func codeBytes(q *tensor.Tensor) []byte { return q.Contiguous().Data[:q.Numel()] }

func TestTorchObserverParity(t *testing.T) {
	fx := loadTorchFixture(t)
	t.Logf("torch %s, quantized engines %v", fx.Torch, fx.Engines)
	codes := 0
	for _, c := range fx.Observers {
		in := fx.Inputs[c.Input]
		x := hexF32(t, in.Data)
		s := Scheme{QType: QInt8, Symmetric: c.Symmetric, ReduceRange: c.ReduceRange}
		if c.DType == "quint8" {
			s.QType = QUInt8
		}
		var obs Observer
		switch c.Observer {
		case "minmax":
			obs = NewMinMax(s)
		case "moving_average":
			obs = NewMovingAverageMinMax(s)
		case "per_channel":
			obs = NewPerChannelMinMax(s, c.Axis)
		}
		name := c.Input + "/" + c.Observer + "/" + c.DType
		for _, b := range batches(x, in.Shape, c.Observer == "per_channel", c.Axis) {
			if err := obs.Observe(b); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		lo, hi := obs.Range()
		if !sameBits(lo, hexF32(t, c.Min)) || !sameBits(hi, hexF32(t, c.Max)) {
			t.Fatalf("%s rr=%v sym=%v: range %v..%v, torch %v..%v", name, c.ReduceRange, c.Symmetric, lo, hi, hexF32(t, c.Min), hexF32(t, c.Max))
		}
		p, err := obs.QParams()
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(p.Scale, hexF32(t, c.Scale)) {
			t.Fatalf("%s rr=%v sym=%v: scale %v, torch %v", name, c.ReduceRange, c.Symmetric, p.Scale, hexF32(t, c.Scale))
		}
		for i, z := range c.ZeroPoint {
			if p.ZeroPoint[i] != z {
				t.Fatalf("%s rr=%v sym=%v: zero point %v, torch %v", name, c.ReduceRange, c.Symmetric, p.ZeroPoint, c.ZeroPoint)
			}
		}
		xt := tensor.FromF32(in.Shape, x)
		q, err := Quantize(xt, p)
		if err != nil {
			t.Fatal(err)
		}
		want := hexBytes(t, c.Codes)
		got := codeBytes(q)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s rr=%v sym=%v: code %d of x=%v is %d, torch %d (scale %v zp %v)",
					name, c.ReduceRange, c.Symmetric, i, x[i], got[i], want[i], p.Scale, p.ZeroPoint)
			}
		}
		codes += len(want)
		if c.Dequantized != "" {
			d, err := Dequantize(q, p)
			if err != nil {
				t.Fatal(err)
			}
			if !sameBits(d.F32(), hexF32(t, c.Dequantized)) {
				t.Fatalf("%s: dequantized values differ from torch", name)
			}
		}
		// The one-shot paths agree with the observers when a single batch has the same
		// range (min/max are associative; the moving average is not).
		if c.Observer != "moving_average" {
			g := PerTensor()
			if c.Observer == "per_channel" {
				g = PerChannel(c.Axis)
			}
			q2, p2, err := ChooseAndQuantize(xt, s, g)
			if err != nil {
				t.Fatal(err)
			}
			if !sameBits(p2.Scale, p.Scale) || string(codeBytes(q2)) != string(want) {
				t.Fatalf("%s: ChooseAndQuantize differs from torch", name)
			}
		}
	}
	t.Logf("%d observer cases, %d codes bit-exact", len(fx.Observers), codes)
}

func TestTorchTieParity(t *testing.T) {
	fx := loadTorchFixture(t)
	divDiffers := 0
	for _, c := range fx.Ties {
		x, scale := hexF32(t, c.X)[0], hexF32(t, c.Scale)[0]
		s := Scheme{QType: QInt8}
		if c.DType == "quint8" {
			s.QType = QUInt8
		}
		var got int
		if s.QType.Signed {
			d := make([]int8, 1)
			if err := QuantizeTo(d, []float32{x}, scale, c.ZeroPoint, s); err != nil {
				t.Fatal(err)
			}
			got = int(d[0])
		} else {
			d := make([]uint8, 1)
			if err := QuantizeTo(d, []float32{x}, scale, c.ZeroPoint, s); err != nil {
				t.Fatal(err)
			}
			got = int(d[0])
		}
		if got != c.Code {
			t.Fatalf("tie x=%v scale=%v zp=%d %s: code %d, torch %d", x, scale, c.ZeroPoint, c.DType, got, c.Code)
		}
		byDiv := math.RoundToEven(float64(x/scale)) + float64(c.ZeroPoint)
		if byDiv != float64(c.Code) {
			divDiffers++
		}
	}
	t.Logf("%d ties match torch; float32 division would have missed %d of them", len(fx.Ties), divDiffers)
	if divDiffers == 0 {
		t.Fatal("the tie cases do not tell multiplication from division")
	}
}

func TestTorchCastParity(t *testing.T) {
	fx := loadTorchFixture(t)
	x := hexF32(t, fx.Casts.Input)
	half, bf := hexU16(t, fx.Casts.Half), hexU16(t, fx.Casts.Bfloat16)
	h := make([]uint16, len(x))
	b := make([]uint16, len(x))
	if err := F32ToF16To(h, x); err != nil {
		t.Fatal(err)
	}
	if err := F32ToBF16To(b, x); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if h[i] != half[i] {
			t.Fatalf(".half() of %#08x: %#04x, torch %#04x", math.Float32bits(x[i]), h[i], half[i])
		}
		if b[i] != bf[i] {
			t.Fatalf(".bfloat16() of %#08x: %#04x, torch %#04x", math.Float32bits(x[i]), b[i], bf[i])
		}
	}
	t.Logf("%d half and bfloat16 casts bit-exact", len(x))
}
