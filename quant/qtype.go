package quant

import "fmt"

// QType is an integer code range.
type QType struct {
	Name     string // "qint8", "quint8", "int4", "uint4", "int16", "qint32"
	Min, Max int32
	Signed   bool
	Bits     int
}

var (
	QInt8  = QType{"qint8", -128, 127, true, 8}
	QUInt8 = QType{"quint8", 0, 255, false, 8}
	Int4   = QType{"int4", -8, 7, true, 4}
	UInt4  = QType{"uint4", 0, 15, false, 4}
	Int16  = QType{"int16", -32768, 32767, true, 16}
	QInt32 = QType{"qint32", -2147483648, 2147483647, true, 32}
)

var qtypes = map[string]QType{
	"qint8": QInt8, "int8": QInt8, "i8": QInt8,
	"quint8": QUInt8, "uint8": QUInt8, "u8": QUInt8,
	"int4": Int4, "uint4": UInt4,
	"int16": Int16, "qint16": Int16,
	"qint32": QInt32, "int32": QInt32,
}

// ParseQType accepts "int8", "qint8", "uint8", "quint8", "int4", "uint4", "int16" and "int32".
func ParseQType(s string) (QType, error) {
	if q, ok := qtypes[s]; ok {
		return q, nil
	}
	return QType{}, fmt.Errorf("quant: unknown quantized type %q (want int8, uint8, int4, uint4, int16 or int32)", s)
}

// ReduceRange halves both bounds (torch's reduce_range: qint8 -64..63, quint8 0..127).
func (q QType) ReduceRange() QType {
	r := q
	r.Min = floorDiv2(q.Min)
	r.Max = floorDiv2(q.Max)
	return r
}

func floorDiv2(v int32) int32 {
	if v < 0 {
		return -((-v + 1) / 2)
	}
	return v / 2
}

// Numerics selects whose arithmetic computes qparams and quantized codes.
type Numerics int

const (
	// Torch matches torch.ao.quantization observers and fbgemm's quantize: float32
	// qparams, symmetric divisor (qmax-qmin)/2, multiply by a float32 reciprocal.
	Torch Numerics = iota
	// ORT matches ONNX Runtime's compute_scale_zp and QuantizeLinear: float64 scale,
	// restricted symmetric range, division.
	ORT
)

func (n Numerics) String() string {
	if n == ORT {
		return "onnxruntime"
	}
	return "torch"
}

// ParseNumerics accepts "torch" and "onnxruntime" (or "ort").
func ParseNumerics(s string) (Numerics, error) {
	switch s {
	case "torch", "pytorch", "":
		return Torch, nil
	case "onnxruntime", "ort":
		return ORT, nil
	}
	return Torch, fmt.Errorf("quant: unknown numerics %q (want torch or onnxruntime)", s)
}

// Scheme says how a range becomes qparams.
type Scheme struct {
	QType     QType
	Symmetric bool
	// ReduceRange uses one bit less (torch: halves the bounds; ORT: see ORTRange).
	ReduceRange bool
	Numerics    Numerics
}

// Range returns the code range the qparams are computed for. Quantize kernels still
// clamp to the full QType range, as torch does.
func (s Scheme) Range() (qmin, qmax int32) {
	if s.Numerics == ORT {
		return ortRange(s.QType, s.Symmetric, s.ReduceRange)
	}
	q := s.QType
	if s.ReduceRange {
		q = q.ReduceRange()
	}
	return q.Min, q.Max
}

// ortRange is onnxruntime's get_qmin_qmax_for_qType (quant_utils.py): reduce_range wins
// over symmetric, and only int8, uint8 and int16 have a restricted symmetric range (int4 and
// uint4 keep their full range when symmetric).
func ortRange(q QType, symmetric, reduce bool) (int32, int32) {
	switch {
	case reduce && q.Bits == 8 && q.Signed:
		return -64, 64
	case reduce && q.Bits == 8:
		return 0, 127
	case reduce && q.Bits == 16 && q.Signed:
		return -16384, 16384
	case reduce && q.Bits == 4 && q.Signed:
		return -4, 3
	case reduce && q.Bits == 4:
		return 0, 7
	case symmetric && q.Signed && (q.Bits == 8 || q.Bits == 16):
		return -q.Max, q.Max
	case symmetric && q.Bits == 8:
		return 0, 254
	}
	return q.Min, q.Max
}
