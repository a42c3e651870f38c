package bindings

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/budget"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// TensorTypeName is the metatable name of tensor userdata; its Value is a *tensor.Tensor.
const TensorTypeName = "qs.Tensor"

// TensorModule is `require "qs.tensor"`: tensor construction and error metrics. Its
// functions also sit at the top of the `qs` table (qs.tensor, qs.zeros, qs.sqnr, ...).
var TensorModule modules.Module = apiModule("qs.tensor", tensorAPI, registerTensorType, registerQTensorType)

// PreloadTensor makes the tensor module available to a bare Lua state:
//
//	local qs = require "qs.tensor"
//	local t = qs.tensor{{1, 2}, {3, 4}}
func PreloadTensor(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.tensor", TensorModule.Loader(env))
}

var tensorAPI = map[string]lua.LGFunction{
	"tensor": newTensor,
	"zeros":  zeros,
	"ones":   ones,
	"randn":  randn,
	"sqnr":   metric(func(e quant.Errors) float64 { return e.SQNR }),
	"mse":    metric(func(e quant.Errors) float64 { return e.MSE }),
	"cosine": metric(func(e quant.Errors) float64 { return e.Cosine }),
}

// tensorMethods is filled in init: the methods refer, through the constructors they call,
// back to the metatable that holds them.
var tensorMethods map[string]lua.LGFunction

func init() {
	tensorMethods = map[string]lua.LGFunction{
		"shape":    tensorShape,
		"dtype":    tensorDType,
		"numel":    tensorNumel,
		"dim":      tensorDim,
		"min":      tensorStat(statMin),
		"max":      tensorStat(statMax),
		"absmax":   tensorStat(statAbsMax),
		"mean":     tensorStat(statMean),
		"std":      tensorStat(statStd),
		"sum":      tensorStat(statSum),
		"to":       tensorTo,
		"quantize": tensorQuantize,
		"item":     tensorItem,
		"get":      tensorGet,
		"table":    tensorTable,
		"reshape":  tensorReshape,
	}
}

// registerTensorType creates the qs.Tensor metatable once per state.
func registerTensorType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), TensorTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(TensorTypeName)
	methods := L.SetFuncs(L.NewTable(), tensorMethods)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		t := CheckTensor(L, 1)
		switch key := L.Get(2).(type) {
		case lua.LNumber:
			L.Push(tensorIndex(L, t, int(key)))
			return 1
		case lua.LString:
			L.Push(methods.RawGetString(string(key)))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		t := CheckTensor(L, 1)
		if len(t.Shape) == 0 {
			L.Push(lua.LNumber(0))
		} else {
			L.Push(lua.LNumber(t.Shape[0]))
		}
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(formatTensor(CheckTensor(L, 1))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(TensorTypeName))
}

// CheckTensor returns the tensor at argument n, raising an argument error otherwise.
func CheckTensor(L *lua.LState, n int) *tensor.Tensor {
	if t := tensorValue(L.Get(n)); t != nil {
		return t
	}
	L.ArgError(n, fmt.Sprintf("%s expected, got %s", TensorTypeName, typeOf(L.Get(n))))
	return nil
}

// tensorValue returns the tensor v holds, or nil when v is not a qs.Tensor.
func tensorValue(v lua.LValue) *tensor.Tensor {
	if ud, ok := v.(*lua.LUserData); ok {
		t, _ := ud.Value.(*tensor.Tensor)
		return t
	}
	return nil
}

// LVTensor wraps t as a Lua value of type qs.Tensor.
func LVTensor(L *lua.LState, t *tensor.Tensor) lua.LValue {
	return newUserData(L, registerTensorType, TensorTypeName, t)
}

// checkUserData returns the value of type T at argument n, raising an argument error
// naming typeName otherwise.
func checkUserData[T any](L *lua.LState, n int, typeName string) T {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	L.ArgError(n, fmt.Sprintf("%s expected, got %s", typeName, typeOf(L.Get(n))))
	var zero T
	return zero
}

// newUserData wraps v as a Lua value of type typeName, registering the type first.
func newUserData(L *lua.LState, register func(*lua.LState), typeName string, v any) lua.LValue {
	register(L)
	ud := L.NewUserData()
	ud.Value = v
	L.SetMetatable(ud, L.GetTypeMetatable(typeName))
	return ud
}

// typeOf names a Lua value's type, userdata by their metatable name.
func typeOf(v lua.LValue) string {
	if ud, ok := v.(*lua.LUserData); ok {
		if mt, ok := ud.Metatable.(*lua.LTable); ok {
			if name, ok := mt.RawGetString("__name").(lua.LString); ok {
				return string(name)
			}
		}
	}
	return v.Type().String()
}

// checkDType parses a dtype option ("F32", "float16", "bf16", ...).
func checkDType(L *lua.LState, n int, s string) tensor.DType {
	dt, err := tensor.ParseDType(s)
	if err != nil {
		names := make([]string, len(tensor.DTypes))
		for i, d := range tensor.DTypes {
			names[i] = d.String()
		}
		L.ArgError(n, fmt.Sprintf("unknown dtype %q%s; valid dtypes: %s (or aliases such as float32, fp16, bf16, int8)",
			s, suggest.DidYouMean(strings.ToUpper(s), names), strings.Join(names, ", ")))
	}
	return dt
}

// qs.tensor(data [, {shape=, dtype=}]): data is a number, a nested table of numbers, or a
// flat table reshaped by opts.shape.
func newTensor(L *lua.LState) int {
	opts := checkOptions(L, 2, []string{"dtype", "shape"})
	dt := checkDType(L, 2, optString(L, 2, opts, "dtype", "F32"))
	var values []float64
	var shape []int
	switch data := L.Get(1).(type) {
	case lua.LNumber:
		values = []float64{float64(data)}
	case lua.LBool:
		values = []float64{b2f(bool(data))}
	case *lua.LTable:
		var err error
		shape, values, err = nestedValues(ctxOf(L), data)
		if errors.Is(err, budget.ErrExceeded) {
			L.RaiseError("qs.tensor: %v", err)
		}
		if err != nil {
			L.ArgError(1, err.Error())
		}
	default:
		L.TypeError(1, lua.LTTable)
	}
	if v := optField(L, 2, opts, "shape", lua.LTTable); v != lua.LNil {
		want := luaIntList(L, 2, v.(*lua.LTable), "shape")
		n, err := tensor.Numel(want)
		if err != nil || n != len(values) {
			L.ArgError(2, fmt.Sprintf("shape %v holds %d elements, the data has %d", want, n, len(values)))
		}
		shape = want
	}
	L.Push(LVTensor(L, fromF64(L, dt, shape, values)))
	return 1
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// maxNesting bounds the dimensions of a tensor built from nested tables, so that a table
// that contains itself ({t} with t[1] = t) is an error rather than an endless descent.
const maxNesting = 64

// nestedValues flattens a nested table of numbers in C order and returns its shape. Every
// row of a level must have the same length.
func nestedValues(ctx context.Context, t *lua.LTable) ([]int, []float64, error) {
	var shape []int
	for v := lua.LValue(t); ; {
		tt, ok := v.(*lua.LTable)
		if !ok {
			break
		}
		if len(shape) == maxNesting {
			return nil, nil, fmt.Errorf("data nested deeper than %d levels (does a table contain itself?)", maxNesting)
		}
		shape = append(shape, tt.Len())
		if tt.Len() == 0 {
			break
		}
		v = tt.RawGetInt(1)
	}
	n, err := tensor.Numel(shape)
	if err != nil {
		return nil, nil, err
	}
	// Rows shared by reference make a small table describe a huge tensor.
	if err := budget.Check(ctx, budget.Mul(int64(n), 16), fmt.Sprintf("a tensor of shape %s", shapeText(shape))); err != nil {
		return nil, nil, err
	}
	values := make([]float64, 0, n)
	var walk func(v lua.LValue, dim int, at string) error
	walk = func(v lua.LValue, dim int, at string) error {
		if dim == len(shape) {
			switch x := v.(type) {
			case lua.LNumber:
				values = append(values, float64(x))
			case lua.LBool:
				values = append(values, b2f(bool(x)))
			default:
				return fmt.Errorf("element %s: number expected, got %s", at, v.Type())
			}
			return nil
		}
		tt, ok := v.(*lua.LTable)
		if !ok || tt.Len() != shape[dim] {
			return fmt.Errorf("ragged data: element %s should be a list of %d, got %s", at, shape[dim], describeRow(v))
		}
		for i := 1; i <= shape[dim]; i++ {
			if err := walk(tt.RawGetInt(i), dim+1, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(t, 0, "data"); err != nil {
		return nil, nil, err
	}
	return shape, values, nil
}

func describeRow(v lua.LValue) string {
	if t, ok := v.(*lua.LTable); ok {
		return fmt.Sprintf("a list of %d", t.Len())
	}
	return "a " + v.Type().String()
}

// fromF64 builds a tensor of dtype dt from values; integer dtypes round half to even and
// saturate, as tensor.To does.
func fromF64(L *lua.LState, dt tensor.DType, shape []int, values []float64) *tensor.Tensor {
	t, err := tensor.FromBytes(tensor.F64, shape, tensor.Bytes(values))
	if err != nil {
		raise(L, err)
	}
	if dt == tensor.F64 {
		return t
	}
	out, err := t.To(dt)
	if err != nil {
		raise(L, err)
	}
	return out
}

// checkShape reads a shape given as a table ({2, 3}) or as numbers (2, 3) from argument
// n on; it returns the shape and the index of the first argument after it.
func checkShape(L *lua.LState, n int) ([]int, int) {
	if t, ok := L.Get(n).(*lua.LTable); ok {
		return luaIntList(L, n, t, "shape"), n + 1
	}
	var shape []int
	for ; L.Get(n).Type() == lua.LTNumber; n++ {
		d := L.CheckInt(n)
		if d < 0 {
			L.ArgError(n, "dimension must not be negative")
		}
		shape = append(shape, d)
	}
	if len(shape) == 0 {
		L.ArgError(n, fmt.Sprintf("shape expected (a table such as {2, 3}), got %s", typeOf(L.Get(n))))
	}
	return shape, n
}

func filled(name string, value float64) lua.LGFunction {
	return func(L *lua.LState) int {
		shape, next := checkShape(L, 1)
		opts := checkOptions(L, next, []string{"dtype"})
		dt := checkDType(L, next, optString(L, next, opts, "dtype", "F32"))
		n, err := tensor.Numel(shape)
		if err != nil {
			L.ArgError(1, err.Error())
		}
		checkAlloc(L, n, 8+int64(dt.Size()), name, shape)
		values := make([]float64, n)
		if value != 0 {
			for i := range values {
				values[i] = value
			}
		}
		L.Push(LVTensor(L, fromF64(L, dt, shape, values)))
		return 1
	}
}

var (
	zeros = filled("qs.zeros", 0)
	ones  = filled("qs.ones", 1)
)

// qs.randn(shape [, {seed=0, dtype="F32"}]): standard normal values from a seeded PCG, so
// a recipe gives the same tensor on every run.
func randn(L *lua.LState) int {
	shape, next := checkShape(L, 1)
	opts := checkOptions(L, next, []string{"dtype", "seed"})
	dt := checkDType(L, next, optString(L, next, opts, "dtype", "F32"))
	seed := optInt(L, next, opts, "seed", 0)
	n, err := tensor.Numel(shape)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	checkAlloc(L, n, 8+int64(dt.Size()), "qs.randn", shape)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	values := make([]float64, n)
	for i := range values {
		values[i] = float64(float32(rng.NormFloat64()))
	}
	L.Push(LVTensor(L, fromF64(L, dt, shape, values)))
	return 1
}

// checkFloats returns the values of a tensor or quantized tensor (dequantized) at
// argument n as float32.
func checkFloats(L *lua.LState, n int) (*tensor.Tensor, []float32) {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if qt, ok := ud.Value.(*QTensor); ok {
			t, err := quant.Dequantize(qt.Codes, qt.Params)
			if err != nil {
				raise(L, err)
			}
			return t, t.ToF32()
		}
	}
	t := CheckTensor(L, n)
	return t, t.ToF32()
}

// metric makes qs.sqnr, qs.mse and qs.cosine: reference first, approximation second.
func metric(pick func(quant.Errors) float64) lua.LGFunction {
	return func(L *lua.LState) int {
		a, x := checkFloats(L, 1)
		b, y := checkFloats(L, 2)
		if !slices.Equal(a.Shape, b.Shape) {
			L.ArgError(2, fmt.Sprintf("shape %s does not match the reference's %s", shapeText(b.Shape), shapeText(a.Shape)))
		}
		e, err := quant.Compare(x, y)
		if err != nil {
			raise(L, err)
		}
		L.Push(lua.LNumber(pick(e)))
		return 1
	}
}

func tensorShape(L *lua.LState) int {
	L.Push(numberList(L, CheckTensor(L, 1).Shape))
	return 1
}

func tensorDType(L *lua.LState) int {
	L.Push(lua.LString(CheckTensor(L, 1).DType.String()))
	return 1
}

func tensorNumel(L *lua.LState) int {
	L.Push(lua.LNumber(CheckTensor(L, 1).Numel()))
	return 1
}

func tensorDim(L *lua.LState) int {
	L.Push(lua.LNumber(len(CheckTensor(L, 1).Shape)))
	return 1
}

// stat names one field of tensor.Stats, for the Lua methods t:min(), t:max(), ...
type stat int

const (
	statMin stat = iota
	statMax
	statAbsMax
	statMean
	statStd
	statSum
)

func (s stat) of(st tensor.Stats) float64 {
	return [...]float64{st.Min, st.Max, st.AbsMax, st.Mean, st.Std, st.Sum}[s]
}

func tensorStat(s stat) lua.LGFunction {
	return func(L *lua.LState) int {
		t := CheckTensor(L, 1)
		if t.Numel() == 0 && s != statSum {
			L.RaiseError("%s of an empty tensor", [...]string{"min", "max", "absmax", "mean", "std"}[s])
		}
		L.Push(lua.LNumber(s.of(t.Stats())))
		return 1
	}
}

// t:to(dtype): a converted copy (floats round to nearest even, integers saturate).
func tensorTo(L *lua.LState) int {
	t := CheckTensor(L, 1)
	dt := checkDType(L, 2, L.CheckString(2))
	checkAlloc(L, t.Numel(), int64(dt.Size()), "t:to", t.Shape)
	out, err := t.To(dt)
	if err != nil {
		raise(L, err)
	}
	if out == t {
		out = t.Clone()
	}
	L.Push(LVTensor(L, out))
	return 1
}

// t:reshape(shape): a tensor sharing t's data with another shape of the same size.
func tensorReshape(L *lua.LState) int {
	t := CheckTensor(L, 1)
	shape, _ := checkShape(L, 2)
	out, err := t.Contiguous().Reshape(shape...)
	if err != nil {
		L.ArgError(2, fmt.Sprintf("cannot reshape %v (%d elements) to %v", t.Shape, t.Numel(), shape))
	}
	L.Push(LVTensor(L, out))
	return 1
}

// strides returns t's strides in elements, computing C-order ones when t has none.
func strides(t *tensor.Tensor) []int {
	if t.Strides != nil {
		return t.Strides
	}
	return tensor.ContiguousStrides(t.Shape)
}

// checkIndex turns a 1-based (or negative, from the end) Lua index into a 0-based one.
func checkIndex(L *lua.LState, i, size, dim int) int {
	j := i - 1
	if i < 0 {
		j = size + i
	}
	if i == 0 || j < 0 || j >= size {
		L.RaiseError("index %d out of range for dimension %d of size %d (indices run from 1, or from -1 backwards)", i, dim+1, size)
	}
	return j
}

// tensorIndex is t[i]: element i of a 1-D tensor (a number), or the sub-tensor i along
// the first dimension (a view sharing t's data).
func tensorIndex(L *lua.LState, t *tensor.Tensor, i int) lua.LValue {
	if len(t.Shape) == 0 {
		L.RaiseError("cannot index a 0-d tensor; use t:item()")
	}
	j := checkIndex(L, i, t.Shape[0], 0)
	st := strides(t)
	row := &tensor.Tensor{DType: t.DType, Shape: t.Shape[1:], Strides: st[1:], Offset: t.Offset + j*st[0], Data: t.Data}
	if len(row.Shape) == 0 {
		return lua.LNumber(row.ToF64()[0])
	}
	return LVTensor(L, row)
}

// t:get(i, j, ...): one element by its full index.
func tensorGet(L *lua.LState) int {
	t := CheckTensor(L, 1)
	if L.GetTop()-1 != len(t.Shape) {
		L.RaiseError("get: %d indices for a %d-d tensor of shape %v", L.GetTop()-1, len(t.Shape), t.Shape)
	}
	st := strides(t)
	off := t.Offset
	for d := range t.Shape {
		off += checkIndex(L, L.CheckInt(d+2), t.Shape[d], d) * st[d]
	}
	elem := &tensor.Tensor{DType: t.DType, Shape: []int{}, Strides: []int{}, Offset: off, Data: t.Data}
	L.Push(lua.LNumber(elem.ToF64()[0]))
	return 1
}

// t:item(): the value of a one-element tensor.
func tensorItem(L *lua.LState) int {
	t := CheckTensor(L, 1)
	if t.Numel() != 1 {
		L.RaiseError("item: tensor of shape %v has %d elements, not 1", t.Shape, t.Numel())
	}
	L.Push(lua.LNumber(t.ToF64()[0]))
	return 1
}

// t:table(): the values as nested Lua tables (a number for a 0-d tensor).
func tensorTable(L *lua.LState) int {
	t := CheckTensor(L, 1)
	checkAlloc(L, t.Numel(), 8+tableSlot, "t:table", t.Shape)
	values := t.ToF64()
	if len(t.Shape) == 0 {
		L.Push(lua.LNumber(values[0]))
		return 1
	}
	var build func(dim int, at int) (*lua.LTable, int)
	build = func(dim, at int) (*lua.LTable, int) {
		tbl := L.CreateTable(t.Shape[dim], 0)
		for i := 0; i < t.Shape[dim]; i++ {
			if dim == len(t.Shape)-1 {
				tbl.Append(lua.LNumber(values[at]))
				at++
				continue
			}
			var sub *lua.LTable
			sub, at = build(dim+1, at)
			tbl.Append(sub)
		}
		return tbl, at
	}
	tbl, _ := build(0, 0)
	L.Push(tbl)
	return 1
}

// tableSlot is what one number in a Lua table costs: the slot and the boxed value.
const tableSlot = 32

// checkAlloc raises the memory-limit error when n elements of size bytes each (a tensor of
// shape) do not fit the run's budget.
func checkAlloc(L *lua.LState, n int, size int64, what string, shape []int) {
	if err := budget.Check(ctxOf(L), budget.Mul(int64(n), size), fmt.Sprintf("%s: a tensor of shape %s", what, shapeText(shape))); err != nil {
		L.RaiseError("%v", err)
	}
}

// maxPrinted is the largest tensor tostring shows in full; larger ones print a summary.
const maxPrinted = 64

func formatTensor(t *tensor.Tensor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tensor(%s, shape=%s)", t.DType, shapeText(t.Shape))
	n := t.Numel()
	if n == 0 {
		return b.String()
	}
	values := t.ToF64()
	if n > maxPrinted {
		st := tensor.StatsOf(values)
		fmt.Fprintf(&b, " min=%s max=%s mean=%s", num(st.Min), num(st.Max), num(st.Mean))
		return b.String()
	}
	b.WriteByte(' ')
	if len(t.Shape) == 0 {
		b.WriteString(num(values[0]))
		return b.String()
	}
	var write func(dim, at int) int
	write = func(dim, at int) int {
		b.WriteByte('{')
		for i := 0; i < t.Shape[dim]; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			if dim == len(t.Shape)-1 {
				b.WriteString(num(values[at]))
				at++
			} else {
				at = write(dim+1, at)
			}
		}
		b.WriteByte('}')
		return at
	}
	write(0, 0)
	return b.String()
}

func shapeText(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// num formats a number as Lua prints it: integers without a decimal point, others with up
// to 7 significant digits.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.7g", v)
}
