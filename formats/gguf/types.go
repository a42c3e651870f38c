package gguf

import "fmt"

// TensorType is a ggml tensor type id as stored in a GGUF tensor description (GGML_TYPE_*).
// The quantization kernels live in quant/ggml, whose Type has the same ids.
type TensorType uint32

// typeTraits lists every type ggml (llama.cpp at node-llama-cpp 3.21.1) knows, with its block
// size (elements) and block bytes, as ggml_blck_size and ggml_type_size report them. Ids
// 4, 5 and 31-33, 36-38 were removed from ggml and are rejected.
var typeTraits = map[TensorType]struct {
	name        string
	block, size uint64
}{
	0: {"F32", 1, 4}, 1: {"F16", 1, 2}, 2: {"Q4_0", 32, 18}, 3: {"Q4_1", 32, 20},
	6: {"Q5_0", 32, 22}, 7: {"Q5_1", 32, 24}, 8: {"Q8_0", 32, 34}, 9: {"Q8_1", 32, 36},
	10: {"Q2_K", 256, 84}, 11: {"Q3_K", 256, 110}, 12: {"Q4_K", 256, 144}, 13: {"Q5_K", 256, 176},
	14: {"Q6_K", 256, 210}, 15: {"Q8_K", 256, 292}, 16: {"IQ2_XXS", 256, 66}, 17: {"IQ2_XS", 256, 74},
	18: {"IQ3_XXS", 256, 98}, 19: {"IQ1_S", 256, 50}, 20: {"IQ4_NL", 32, 18}, 21: {"IQ3_S", 256, 110},
	22: {"IQ2_S", 256, 82}, 23: {"IQ4_XS", 256, 136}, 24: {"I8", 1, 1}, 25: {"I16", 1, 2},
	26: {"I32", 1, 4}, 27: {"I64", 1, 8}, 28: {"F64", 1, 8}, 29: {"IQ1_M", 256, 56},
	30: {"BF16", 1, 2}, 34: {"TQ1_0", 256, 54}, 35: {"TQ2_0", 256, 66}, 39: {"MXFP4", 32, 17},
	40: {"NVFP4", 64, 36}, 41: {"Q1_0", 128, 18}, 42: {"Q2_0", 64, 18},
}

// The types the converter writes by name.
const (
	TypeF32  TensorType = 0
	TypeF16  TensorType = 1
	TypeQ8_0 TensorType = 8
	TypeBF16 TensorType = 30
)

// Known reports whether t is a type ggml can load.
func (t TensorType) Known() bool { _, ok := typeTraits[t]; return ok }

func (t TensorType) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for plain types); 0 if unknown.
func (t TensorType) BlockSize() uint64 { return typeTraits[t].block }

// BlockBytes is the number of bytes of one block; 0 if unknown.
func (t TensorType) BlockBytes() uint64 { return typeTraits[t].size }

// ValueType is the type tag of a metadata value (GGUF_TYPE_*).
type ValueType uint32

const (
	Uint8 ValueType = iota
	Int8
	Uint16
	Int16
	Uint32
	Int32
	Float32
	Bool
	String
	Array
	Uint64
	Int64
	Float64
	numValueTypes
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if t < numValueTypes {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("value type(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar of type t; 0 for strings and arrays.
func (t ValueType) fixedSize() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

// minSize is the smallest encoding of one value of type t: a string's length prefix, an
// array's element type and count.
func (t ValueType) minSize() int {
	switch t {
	case String:
		return 8
	case Array:
		return 12
	}
	return t.fixedSize()
}
