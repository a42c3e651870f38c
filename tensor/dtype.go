package tensor

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/internal/clip"
)

// DType is an element type. Its String form is the safetensors name ("F32", "BF16", "F8_E4M3").
type DType uint8

const (
	Invalid DType = iota
	F64
	F32
	F16
	BF16
	F8E4M3 // float8 e4m3fn: no infinities, one NaN pattern, max 448
	F8E5M2 // float8 e5m2: IEEE-like, max 57344
	I64
	I32
	I16
	I8
	U8
	Bool
)

var dtypeInfo = [...]struct {
	name  string
	size  int
	float bool
}{
	Invalid: {"INVALID", 0, false},
	F64:     {"F64", 8, true},
	F32:     {"F32", 4, true},
	F16:     {"F16", 2, true},
	BF16:    {"BF16", 2, true},
	F8E4M3:  {"F8_E4M3", 1, true},
	F8E5M2:  {"F8_E5M2", 1, true},
	I64:     {"I64", 8, false},
	I32:     {"I32", 4, false},
	I16:     {"I16", 2, false},
	I8:      {"I8", 1, false},
	U8:      {"U8", 1, false},
	Bool:    {"BOOL", 1, false},
}

// DTypes lists every valid dtype in a fixed order.
var DTypes = []DType{F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8, U8, Bool}

// String returns the safetensors name of d.
func (d DType) String() string {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].size
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return int(d) < len(dtypeInfo) && dtypeInfo[d].float }

// Valid reports whether d is one of DTypes.
func (d DType) Valid() bool { return d > Invalid && int(d) < len(dtypeInfo) }

// aliases maps lower-case names used by recipes, torch and numpy to dtypes.
var aliases = map[string]DType{
	"f64": F64, "float64": F64, "double": F64,
	"f32": F32, "float32": F32, "float": F32,
	"f16": F16, "float16": F16, "half": F16, "fp16": F16,
	"bf16": BF16, "bfloat16": BF16,
	"f8_e4m3": F8E4M3, "fp8_e4m3": F8E4M3, "float8_e4m3fn": F8E4M3, "f8e4m3": F8E4M3, "fp8": F8E4M3,
	"f8_e5m2": F8E5M2, "fp8_e5m2": F8E5M2, "float8_e5m2": F8E5M2, "f8e5m2": F8E5M2,
	"i64": I64, "int64": I64, "long": I64,
	"i32": I32, "int32": I32, "int": I32,
	"i16": I16, "int16": I16, "short": I16,
	"i8": I8, "int8": I8,
	"u8": U8, "uint8": U8,
	"bool": Bool,
}

// maxDTypeName is longer than any dtype name or alias.
const maxDTypeName = 32

// ParseDType accepts a safetensors name ("F32") or a common alias ("float32", "fp16", "bf16").
func ParseDType(s string) (DType, error) {
	if len(s) > maxDTypeName {
		// A name from a hostile header can be megabytes: quote only its start.
		return Invalid, fmt.Errorf("tensor: unknown dtype %s", clip.Quote(s))
	}
	for _, d := range DTypes {
		if s == d.String() {
			return d, nil
		}
	}
	if d, ok := aliases[strings.ToLower(s)]; ok {
		return d, nil
	}
	return Invalid, fmt.Errorf("tensor: unknown dtype %q", s)
}
