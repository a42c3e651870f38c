package bindings

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/internal/budget"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// QTensorTypeName is the metatable name of quantized tensors; their Value is a *QTensor.
const QTensorTypeName = "qs.QTensor"

// QTensor is a quantized tensor: integer codes (int4 codes unpacked, one per element) and
// the qparams that map them back to floats.
type QTensor struct {
	Codes  *tensor.Tensor
	Params *quant.QParams
}

// quantizeKeys are the options of t:quantize{...}.
var quantizeKeys = []string{"axis", "dtype", "group_size", "numerics", "per_channel", "reduce_range", "symmetric"}

// intQTypes are the dtypes t:quantize accepts.
var intQTypes = []string{"int8", "uint8", "int4", "uint4", "int16"}

// qtensorMethods is filled in init: the methods refer, through the constructors they call,
// back to the metatable that holds them.
var qtensorMethods map[string]lua.LGFunction

func init() {
	qtensorMethods = map[string]lua.LGFunction{
		"dequantize": qtensorDequantize,
		"codes":      qtensorCodes,
		"scale":      qtensorScale,
		"zero_point": qtensorZeroPoint,
		"qparams":    qtensorQParams,
		"shape":      qtensorShape,
		"dtype":      qtensorDType,
		"numel":      qtensorNumel,
	}
}

func registerQTensorType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), QTensorTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(QTensorTypeName)
	mt.RawSetString("__index", L.SetFuncs(L.NewTable(), qtensorMethods))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		q := CheckQTensor(L, 1)
		L.Push(lua.LString(fmt.Sprintf("qtensor(%s, shape=%s, %s, %s)", q.Params.Scheme.QType.Name,
			shapeText(q.Codes.Shape), granularityText(q.Params), schemeText(q.Params.Scheme))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(QTensorTypeName))
}

// CheckQTensor returns the quantized tensor at argument n.
func CheckQTensor(L *lua.LState, n int) *QTensor {
	return checkUserData[*QTensor](L, n, QTensorTypeName)
}

// LVQTensor wraps q as a Lua value of type qs.QTensor.
func LVQTensor(L *lua.LState, q *QTensor) lua.LValue {
	return newUserData(L, registerQTensorType, QTensorTypeName, q)
}

// checkScheme reads dtype, symmetric, reduce_range and numerics from an option table.
// symmetric defaults to true for the signed types and false for the unsigned ones, as
// torch's default weight (qint8, symmetric) and activation (quint8, affine) observers.
func checkScheme(L *lua.LState, n int, opts *lua.LTable, defDType string) quant.Scheme {
	name := optChoice(L, n, opts, "dtype", defDType, intQTypes)
	qt, err := quant.ParseQType(name)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	s := quant.Scheme{
		QType:       qt,
		Symmetric:   optBool(L, n, opts, "symmetric", qt.Signed),
		ReduceRange: optBool(L, n, opts, "reduce_range", false),
	}
	numerics := optChoice(L, n, opts, "numerics", "torch", []string{"torch", "onnxruntime", "ort"})
	if s.Numerics, err = quant.ParseNumerics(numerics); err != nil {
		L.ArgError(n, err.Error())
	}
	if err := s.Validate(); err != nil {
		L.ArgError(n, err.Error())
	}
	return s
}

// t:quantize{dtype="int8", per_channel=false, axis=0, symmetric=, group_size=,
// numerics="torch", reduce_range=false}
func tensorQuantize(L *lua.LState) int {
	t := CheckTensor(L, 1)
	opts := checkOptions(L, 2, quantizeKeys)
	if v, ok := opts.RawGetString("dtype").(lua.LString); ok {
		if dt, err := tensor.ParseDType(string(v)); err == nil && dt.IsFloat() {
			L.ArgError(2, fmt.Sprintf("dtype %q is a float type: use t:to(%q) to cast", string(v), string(v)))
		}
	}
	s := checkScheme(L, 2, opts, "int8")
	var g quant.Granularity
	perChannel := optBool(L, 2, opts, "per_channel", false)
	group := optInt(L, 2, opts, "group_size", 0)
	switch {
	case perChannel && group != 0:
		L.ArgError(2, "per_channel and group_size exclude each other")
	case perChannel:
		g = quant.PerChannel(optInt(L, 2, opts, "axis", 0))
	case group != 0:
		if group < 0 {
			L.ArgError(2, fmt.Sprintf("option 'group_size': %d; want a positive size", group))
		}
		g = quant.PerGroup(group)
	case opts.RawGetString("axis") != lua.LNil:
		L.ArgError(2, "option 'axis' needs per_channel = true")
	}
	if !t.DType.IsFloat() {
		L.ArgError(1, fmt.Sprintf("only float tensors are quantized, this one is %s", t.DType))
	}
	checkAlloc(L, t.Numel(), 4, "t:quantize: the codes of", t.Shape)
	if params := paramCount(t, g); params > 0 {
		if err := budget.Check(ctxOf(L), budget.Mul(params, qparamCost), fmt.Sprintf("t:quantize: %d sets of qparams", params)); err != nil {
			L.RaiseError("%v", err)
		}
	}
	codes, p, err := quant.ChooseAndQuantize(t, s, g)
	if err != nil {
		raise(L, err)
	}
	L.Push(LVQTensor(L, &QTensor{Codes: codes, Params: p}))
	return 1
}

// qparamCost is what one channel's or group's quantization parameters cost while they are
// chosen: its range, scale and zero point, and room for the observer's bookkeeping.
const qparamCost = 32

// paramCount is how many sets of qparams granularity g gives t (0 when g is invalid for
// t, which quant reports).
func paramCount(t *tensor.Tensor, g quant.Granularity) int64 {
	switch {
	case g.GroupSize > 0:
		return (int64(t.Numel()) + int64(g.GroupSize) - 1) / int64(g.GroupSize)
	case g.PerChannel:
		if g.Axis >= 0 && g.Axis < len(t.Shape) {
			return int64(t.Shape[g.Axis])
		}
		return 0
	}
	return 1
}

func qtensorDequantize(L *lua.LState) int {
	q := CheckQTensor(L, 1)
	t, err := quant.Dequantize(q.Codes, q.Params)
	if err != nil {
		raise(L, err)
	}
	L.Push(LVTensor(L, t))
	return 1
}

func qtensorCodes(L *lua.LState) int {
	L.Push(LVTensor(L, CheckQTensor(L, 1).Codes))
	return 1
}

// perTensor reports whether p holds a single scale.
func perTensor(p *quant.QParams) bool { return len(p.Scale) == 1 && p.GroupSize == 0 }

func qtensorScale(L *lua.LState) int {
	p := CheckQTensor(L, 1).Params
	if perTensor(p) {
		L.Push(lua.LNumber(p.Scale[0]))
	} else {
		L.Push(numberList(L, p.Scale))
	}
	return 1
}

func qtensorZeroPoint(L *lua.LState) int {
	p := CheckQTensor(L, 1).Params
	if perTensor(p) {
		L.Push(lua.LNumber(p.ZeroPoint[0]))
	} else {
		L.Push(numberList(L, p.ZeroPoint))
	}
	return 1
}

// qparamsTable is the table form of qparams shared by quantized tensors and observers:
// scale and zero_point are numbers per tensor and lists otherwise.
func qparamsTable(L *lua.LState, p *quant.QParams) *lua.LTable {
	t := L.NewTable()
	if perTensor(p) {
		t.RawSetString("scale", lua.LNumber(p.Scale[0]))
		t.RawSetString("zero_point", lua.LNumber(p.ZeroPoint[0]))
	} else {
		t.RawSetString("scale", numberList(L, p.Scale))
		t.RawSetString("zero_point", numberList(L, p.ZeroPoint))
	}
	t.RawSetString("dtype", lua.LString(dtypeName(p.Scheme.QType)))
	t.RawSetString("symmetric", lua.LBool(p.Scheme.Symmetric))
	t.RawSetString("reduce_range", lua.LBool(p.Scheme.ReduceRange))
	t.RawSetString("numerics", lua.LString(p.Scheme.Numerics.String()))
	t.RawSetString("granularity", lua.LString(granularityText(p)))
	if !perTensor(p) && p.GroupSize == 0 {
		t.RawSetString("axis", lua.LNumber(p.Axis))
	}
	if p.GroupSize > 0 {
		t.RawSetString("group_size", lua.LNumber(p.GroupSize))
	}
	qmin, qmax := p.Scheme.Range()
	t.RawSetString("qmin", lua.LNumber(qmin))
	t.RawSetString("qmax", lua.LNumber(qmax))
	return t
}

// dtypeName is the option spelling of a QType ("int8" for qint8).
func dtypeName(q quant.QType) string {
	return strings.TrimPrefix(q.Name, "q")
}

func granularityText(p *quant.QParams) string {
	switch {
	case p.GroupSize > 0:
		return fmt.Sprintf("per_group(%d)", p.GroupSize)
	case perTensor(p):
		return "per_tensor"
	}
	return fmt.Sprintf("per_channel(axis=%d)", p.Axis)
}

func schemeText(s quant.Scheme) string {
	kind := "affine"
	if s.Symmetric {
		kind = "symmetric"
	}
	if s.ReduceRange {
		kind += ", reduce_range"
	}
	return kind + ", " + s.Numerics.String() + " numerics"
}

func qtensorQParams(L *lua.LState) int {
	L.Push(qparamsTable(L, CheckQTensor(L, 1).Params))
	return 1
}

func qtensorShape(L *lua.LState) int {
	L.Push(numberList(L, CheckQTensor(L, 1).Codes.Shape))
	return 1
}

func qtensorDType(L *lua.LState) int {
	L.Push(lua.LString(dtypeName(CheckQTensor(L, 1).Params.Scheme.QType)))
	return 1
}

func qtensorNumel(L *lua.LState) int {
	L.Push(lua.LNumber(CheckQTensor(L, 1).Codes.Numel()))
	return 1
}
