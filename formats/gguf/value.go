package gguf

import (
	"fmt"
	"strconv"
	"strings"
)

// Value is one metadata value. V holds the Go value of the type: uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64 or float64 for scalars; for an Array,
// a slice of the element type ([]string, []float32, ...) or []Value when the elements are
// themselves arrays.
type Value struct {
	Type ValueType
	Elem ValueType // element type of an Array
	V    any
}

// KV is one metadata entry. Files keep their keys in order; so does the writer.
type KV struct {
	Key   string
	Value Value
}

// Scalar constructors for the types the converter writes.
func Str(s string) Value     { return Value{Type: String, V: s} }
func U32(x uint32) Value     { return Value{Type: Uint32, V: x} }
func I32(x int32) Value      { return Value{Type: Int32, V: x} }
func U64(x uint64) Value     { return Value{Type: Uint64, V: x} }
func F32(x float32) Value    { return Value{Type: Float32, V: x} }
func BoolVal(x bool) Value   { return Value{Type: Bool, V: x} }
func Strs(s []string) Value  { return Value{Type: Array, Elem: String, V: s} }
func F32s(x []float32) Value { return Value{Type: Array, Elem: Float32, V: x} }
func I32s(x []int32) Value   { return Value{Type: Array, Elem: Int32, V: x} }
func Arrays(x []Value) Value { return Value{Type: Array, Elem: Array, V: x} }
func U8(x uint8) Value       { return Value{Type: Uint8, V: x} }
func F64(x float64) Value    { return Value{Type: Float64, V: x} }
func I64(x int64) Value      { return Value{Type: Int64, V: x} }
func U8s(x []uint8) Value    { return Value{Type: Array, Elem: Uint8, V: x} }

// Len is the number of elements of an array, 0 for a scalar.
func (v Value) Len() int {
	switch a := v.V.(type) {
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []string:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	case []Value:
		return len(a)
	}
	return 0
}

// Uint returns an integer scalar of any width as uint64; ok is false for other types and
// for negative values.
func (v Value) Uint() (uint64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// Float returns a float or integer scalar as float64.
func (v Value) Float() (float64, bool) {
	switch x := v.V.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if u, ok := v.Uint(); ok {
		return float64(u), true
	}
	return 0, false
}

// Text returns a string scalar.
func (v Value) Text() (string, bool) { s, ok := v.V.(string); return s, ok }

// String formats the value for people: scalars as Go literals (strings quoted), arrays as
// their length and element type and at most the first 8 elements.
func (v Value) String() string {
	if v.Type != Array {
		return scalarString(v.V)
	}
	n := v.Len()
	var b strings.Builder
	fmt.Fprintf(&b, "[%d × %s]", n, v.Elem)
	show := min(n, 8)
	if show > 0 {
		b.WriteString(" ")
		for i := 0; i < show; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.elemString(i))
		}
		if n > show {
			b.WriteString(", …")
		}
	}
	return b.String()
}

func (v Value) elemString(i int) string {
	switch a := v.V.(type) {
	case []uint8:
		return scalarString(a[i])
	case []int8:
		return scalarString(a[i])
	case []uint16:
		return scalarString(a[i])
	case []int16:
		return scalarString(a[i])
	case []uint32:
		return scalarString(a[i])
	case []int32:
		return scalarString(a[i])
	case []float32:
		return scalarString(a[i])
	case []bool:
		return scalarString(a[i])
	case []string:
		return scalarString(a[i])
	case []uint64:
		return scalarString(a[i])
	case []int64:
		return scalarString(a[i])
	case []float64:
		return scalarString(a[i])
	case []Value:
		return a[i].String()
	}
	return "?"
}

func scalarString(x any) string {
	switch x := x.(type) {
	case string:
		return strconv.Quote(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(x)
}

// check reports whether V holds the Go type that Type (and Elem) say, for the writer.
func (v Value) check(depth int) error {
	if depth > MaxNesting {
		return ErrNesting
	}
	ok := false
	switch v.Type {
	case Uint8:
		_, ok = v.V.(uint8)
	case Int8:
		_, ok = v.V.(int8)
	case Uint16:
		_, ok = v.V.(uint16)
	case Int16:
		_, ok = v.V.(int16)
	case Uint32:
		_, ok = v.V.(uint32)
	case Int32:
		_, ok = v.V.(int32)
	case Float32:
		_, ok = v.V.(float32)
	case Bool:
		_, ok = v.V.(bool)
	case String:
		_, ok = v.V.(string)
	case Uint64:
		_, ok = v.V.(uint64)
	case Int64:
		_, ok = v.V.(int64)
	case Float64:
		_, ok = v.V.(float64)
	case Array:
		return v.checkArray(depth)
	}
	if !ok {
		return fmt.Errorf("%w: %s value holds %T", ErrValueType, v.Type, v.V)
	}
	return nil
}

func (v Value) checkArray(depth int) error {
	if v.Elem == Array {
		elems, ok := v.V.([]Value)
		if !ok {
			return fmt.Errorf("%w: array of arrays holds %T", ErrValueType, v.V)
		}
		for _, e := range elems {
			if e.Type != Array {
				return fmt.Errorf("%w: array of arrays holds a %s", ErrValueType, e.Type)
			}
			if err := e.check(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	want := map[ValueType]string{Uint8: "[]uint8", Int8: "[]int8", Uint16: "[]uint16", Int16: "[]int16",
		Uint32: "[]uint32", Int32: "[]int32", Float32: "[]float32", Bool: "[]bool", String: "[]string",
		Uint64: "[]uint64", Int64: "[]int64", Float64: "[]float64"}[v.Elem]
	if got := fmt.Sprintf("%T", v.V); got != want || want == "" {
		return fmt.Errorf("%w: array of %s holds %s", ErrValueType, v.Elem, got)
	}
	return nil
}
