package tensor

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestToMatchesTorch converts every value of tensor/testdata/convert.json, which torch's
// .to(dtype) produced (scripts/fixtures/tensor_convert.py), and compares the bytes.
func TestToMatchesTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/convert.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Cases []struct {
			From, To string
			N        int
			In, Out  string
		}
	}
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	pairs := map[[2]DType]bool{}
	for _, c := range fixture.Cases {
		from, err1 := ParseDType(c.From)
		to, err2 := ParseDType(c.To)
		in, err3 := hex.DecodeString(c.In)
		want, err4 := hex.DecodeString(c.Out)
		if err := cmpOr(err1, err2, err3, err4); err != nil {
			t.Fatalf("%s→%s: %v", c.From, c.To, err)
		}
		src, err := FromBytes(from, []int{c.N}, in)
		if err != nil {
			t.Fatalf("%s→%s: %v", c.From, c.To, err)
		}
		got, err := src.To(to)
		if err != nil {
			t.Fatalf("%s→%s: %v", c.From, c.To, err)
		}
		pairs[[2]DType{from, to}] = true
		es, fs := to.Size(), from.Size()
		for i := range c.N {
			if g, w := got.Data[i*es:(i+1)*es], want[i*es:(i+1)*es]; !bytes.Equal(g, w) {
				t.Errorf("%s→%s of %x: got %x, torch %x", c.From, c.To, in[i*fs:(i+1)*fs], g, w)
			}
		}
	}
	if len(pairs) < 60 {
		t.Errorf("the fixture covers %d dtype pairs; regenerate it", len(pairs))
	}
}

func cmpOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestToIntegerTargets checks the documented rule where it differs from torch's C casts:
// round half to even, saturate to the target's range, NaN to 0, any non-zero to true.
func TestToIntegerTargets(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	in := []float64{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, 300, -300, 1e30, inf, -inf, nan}
	want := map[DType][]int64{
		I64:  {0, 2, 2, 0, -2, -2, 126, 128, 300, -300, math.MaxInt64 - 1023, math.MaxInt64 - 1023, math.MinInt64, 0},
		I32:  {0, 2, 2, 0, -2, -2, 126, 128, 300, -300, math.MaxInt32, math.MaxInt32, math.MinInt32, 0},
		I16:  {0, 2, 2, 0, -2, -2, 126, 128, 300, -300, math.MaxInt16, math.MaxInt16, math.MinInt16, 0},
		I8:   {0, 2, 2, 0, -2, -2, 126, 127, 127, -128, 127, 127, -128, 0},
		U8:   {0, 2, 2, 0, 0, 0, 126, 128, 255, 0, 255, 255, 0, 0},
		Bool: {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	for _, from := range []DType{F64, F32, F16, BF16} {
		src, err := (&Tensor{DType: F64, Shape: []int{len(in)}, Data: Bytes(in)}).To(from)
		if err != nil {
			t.Fatal(err)
		}
		for to, w := range want {
			got, err := src.To(to)
			if err != nil {
				t.Fatal(err)
			}
			// Every input is exact in every source type but 1e30, which saturates either way.
			for i, v := range got.ToF64() {
				if to == I64 {
					if g := got.I64()[i]; g != w[i] {
						t.Errorf("%v→I64 of %v = %d, want %d", from, in[i], g, w[i])
					}
				} else if int64(v) != w[i] {
					t.Errorf("%v→%v of %v = %v, want %d", from, to, in[i], v, w[i])
				}
			}
		}
	}
}

// TestToFP8 rounds to nearest even, saturates at the largest finite value and keeps NaN,
// from every float source. Codes are from the OCP 8-bit floating point specification v1.0.
func TestToFP8(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	in := []float64{0, 1, -1, 1.0625, 1.1875, 448, 464, 1e6, -inf, inf, 0.001953125, 0.0009765625, 1e-10, 57344, 61440}
	want := map[DType][]uint8{
		F8E4M3: {0x00, 0x38, 0xb8, 0x38, 0x3a, 0x7e, 0x7e, 0x7e, 0xfe, 0x7e, 0x01, 0x00, 0x00, 0x7e, 0x7e},
		F8E5M2: {0x00, 0x3c, 0xbc, 0x3c, 0x3d, 0x5f, 0x5f, 0x7b, 0xfb, 0x7b, 0x18, 0x14, 0x00, 0x7b, 0x7b},
	}
	for _, from := range []DType{F64, F32, F16, BF16} {
		src, err := (&Tensor{DType: F64, Shape: []int{len(in)}, Data: Bytes(in)}).To(from)
		if err != nil {
			t.Fatal(err)
		}
		for to, w := range want {
			got, err := src.To(to)
			if err != nil {
				t.Fatal(err)
			}
			// The inputs that F16 or BF16 cannot hold (1e6, 1e-10) give the same code either way.
			for i, c := range got.U8() {
				if c != w[i] {
					t.Errorf("%v→%v of %v = %#x, want %#x", from, to, in[i], c, w[i])
				}
			}
		}
		n, _ := (&Tensor{DType: F64, Shape: []int{1}, Data: Bytes([]float64{nan})}).To(from)
		for to := range want {
			got, _ := n.To(to)
			if back := got.ToF32()[0]; !math.IsNaN(float64(back)) {
				t.Errorf("%v→%v of NaN decodes to %v", from, to, back)
			}
		}
	}
}

// TestRoundTripsAreExact: every value of a narrower type survives a trip through a wider
// one and back, for every pair. The exceptions are NaN payloads and e5m2's infinities,
// which the conversion to fp8 saturates to ±57344 by design.
func TestRoundTripsAreExact(t *testing.T) {
	wider := map[DType][]DType{
		F16:    {F32, F64},
		BF16:   {F32, F64},
		F8E4M3: {F16, BF16, F32, F64},
		F8E5M2: {F16, F32, F64},
		F32:    {F64},
		I8:     {I16, I32, I64, F16, BF16, F32, F64},
		U8:     {I16, I32, I64, F16, BF16, F32, F64},
		I16:    {I32, I64, F32, F64},
		I32:    {I64, F64},
		Bool:   {U8, I8, I16, I32, I64, F16, BF16, F32, F64},
	}
	for narrow, ws := range wider {
		src := every(narrow)
		for _, w := range ws {
			mid, err := src.To(w)
			if err != nil {
				t.Fatal(err)
			}
			back, err := mid.To(narrow)
			if err != nil {
				t.Fatal(err)
			}
			for i := range src.Numel() {
				es := narrow.Size()
				a, b := src.Data[i*es:(i+1)*es], back.Data[i*es:(i+1)*es]
				if !bytes.Equal(a, b) && !isNaNCode(narrow, a) && !(narrow == F8E5M2 && isInfCode(narrow, a)) {
					t.Errorf("%v→%v→%v: %x came back as %x", narrow, w, narrow, a, b)
				}
			}
		}
	}
}

// every returns a tensor holding every bit pattern of a 1- or 2-byte dtype (both bool
// values for BOOL), or a spread of values for wider ones.
func every(dt DType) *Tensor {
	switch dt.Size() {
	case 1:
		n := 256
		if dt == Bool {
			n = 2
		}
		t := New(dt, n)
		for i := range n {
			t.Data[i] = byte(i)
		}
		return t
	case 2:
		t := New(dt, 1<<16)
		for i := range 1 << 16 {
			t.Data[2*i], t.Data[2*i+1] = byte(i), byte(i>>8)
		}
		return t
	}
	v := []float64{0, 1, -1, 0.1, 1e-30, 3e38, -65504, 2147483647, -2147483648, 12345, math.Inf(1)}
	t, _ := (&Tensor{DType: F64, Shape: []int{len(v)}, Data: Bytes(v)}).To(dt)
	return t
}

func isInfCode(dt DType, raw []byte) bool {
	t, _ := FromBytes(dt, []int{1}, bytes.Clone(raw))
	return math.IsInf(t.ToF64()[0], 0)
}

// isNaNCode reports whether raw is a NaN of dt, whose payload a round trip need not keep.
func isNaNCode(dt DType, raw []byte) bool {
	if !dt.IsFloat() {
		return false
	}
	t, _ := FromBytes(dt, []int{1}, bytes.Clone(raw))
	return math.IsNaN(t.ToF64()[0])
}
