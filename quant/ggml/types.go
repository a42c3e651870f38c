package ggml

import (
	"fmt"
	"strings"
)

// Type is a ggml_type id as numbered in ggml.h; GGUF stores it in each tensor info.
type Type uint32

// The ggml_type ids (ggml.h: "always add types at the end of the enum"). Ids 4, 5 and
// 31..33, 36..38 belong to removed types.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
	NVFP4   Type = 40
	Q1_0    Type = 41
	Q2_0    Type = 42
)

// qkK is QK_K, the elements of a k-quant super-block.
const qkK = 256

// typeInfo is one row of ggml's type_traits: name, elements per block, bytes per block.
type typeInfo struct {
	name        string
	block, size int
}

// types holds every type ggml-base knows (checked against ggml_blck_size and
// ggml_type_size of the reference library by the fixtures), so that a GGUF reader can
// size tensors of types this package cannot quantize.
var types = map[Type]typeInfo{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 36},
	Q2_K: {"Q2_K", qkK, 84}, Q3_K: {"Q3_K", qkK, 110}, Q4_K: {"Q4_K", qkK, 144},
	Q5_K: {"Q5_K", qkK, 176}, Q6_K: {"Q6_K", qkK, 210}, Q8_K: {"Q8_K", qkK, 292},
	IQ2_XXS: {"IQ2_XXS", qkK, 66}, IQ2_XS: {"IQ2_XS", qkK, 74}, IQ3_XXS: {"IQ3_XXS", qkK, 98},
	IQ1_S: {"IQ1_S", qkK, 50}, IQ4_NL: {"IQ4_NL", 32, 18}, IQ3_S: {"IQ3_S", qkK, 110},
	IQ2_S: {"IQ2_S", qkK, 82}, IQ4_XS: {"IQ4_XS", qkK, 136}, IQ1_M: {"IQ1_M", qkK, 56},
	TQ1_0: {"TQ1_0", qkK, 54}, TQ2_0: {"TQ2_0", qkK, 66},
	MXFP4: {"MXFP4", 32, 17}, NVFP4: {"NVFP4", 64, 36}, Q1_0: {"Q1_0", 128, 18}, Q2_0: {"Q2_0", 64, 18},
}

// supported lists the types QuantizeRows and DequantizeRows handle, in ggml.h order.
var supported = []Type{F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16}

// String returns the type's name as GGUF tools print it ("Q4_K", "F16"; ggml's
// ggml_type_name spells the same names in lower case), or "ggml_type(N)" for an id
// ggml does not define.
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// ParseType finds a type by name, ignoring case ("q4_k", "Q4_K", "bf16").
func ParseType(name string) (Type, error) {
	for t, info := range types {
		if strings.EqualFold(info.name, name) {
			return t, nil
		}
	}
	names := make([]string, len(supported))
	for i, t := range supported {
		names[i] = t.String()
	}
	return 0, fmt.Errorf("ggml: unknown type %q (quantizable types: %s)", name, strings.Join(names, ", "))
}

// BlockSize is the number of elements per block: 1 for F32, F16 and BF16, 32 for
// Q4_0..Q8_0, 256 for the k-quants; 0 for an unknown id.
func (t Type) BlockSize() int { return types[t].block }

// TypeSize is the number of bytes per block; 0 for an unknown id.
func (t Type) TypeSize() int { return types[t].size }

// Supported reports whether QuantizeRows and DequantizeRows handle t.
func (t Type) Supported() bool {
	for _, s := range supported {
		if s == t {
			return true
		}
	}
	return false
}

// RowSize is ggml_row_size: the bytes of a row of ncols elements of type t. ncols must be
// a positive multiple of the block size.
func RowSize(t Type, ncols int) (int, error) {
	info, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("ggml: unknown type id %d", uint32(t))
	}
	if ncols <= 0 || ncols%info.block != 0 {
		return 0, fmt.Errorf("ggml: %s rows need a positive multiple of %d columns, got %d", info.name, info.block, ncols)
	}
	if ncols/info.block > (1<<62)/info.size {
		return 0, fmt.Errorf("ggml: %s row of %d columns is too large", info.name, ncols)
	}
	return ncols / info.block * info.size, nil
}
