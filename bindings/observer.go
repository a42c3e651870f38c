package bindings

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// ObserverTypeName is the metatable name of observers; their Value is an *Observer.
const ObserverTypeName = "qs.Observer"

// Observer is an observer made from Lua: the quant.Observer and how it was made.
type Observer struct {
	Kind string // "minmax", "histogram", ...
	quant.Observer
}

// ObserverModule is `require "qs.observer"`, also reachable as qs.observer.
var ObserverModule modules.Module = apiModule("qs.observer", observerAPI, registerTensorType, registerObserverType)

// PreloadObserver makes the observer module available to a bare Lua state:
//
//	local observer = require "qs.observer"
//	local obs = observer.minmax{dtype = "uint8"}
func PreloadObserver(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.observer", ObserverModule.Loader(env))
}

// schemeKeys are the options every observer takes.
var schemeKeys = []string{"dtype", "numerics", "reduce_range", "symmetric"}

var observerAPI = map[string]lua.LGFunction{
	"minmax": newObserver("minmax", nil, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewMinMax(s), nil
	}),
	"moving_average": newObserver("moving_average", []string{"c"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewMovingAverageMinMaxC(s, optNumber(L, 1, o, "c", quant.DefaultAveragingConstant))
	}),
	"per_channel": newObserver("per_channel", []string{"axis"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewPerChannelMinMax(s, optInt(L, 1, o, "axis", 0)), nil
	}),
	"histogram": newObserver("histogram", []string{"bins", "upsample_rate"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewHistogramBins(s, optInt(L, 1, o, "bins", quant.DefaultHistogramBins), optInt(L, 1, o, "upsample_rate", quant.DefaultUpsampleRate))
	}),
	"percentile": newObserver("percentile", []string{"bins", "percentile", "signed"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewPercentileOptions(s, quant.PercentileOptions{
			Percentile: optNumber(L, 1, o, "percentile", quant.DefaultPercentile),
			Bins:       optInt(L, 1, o, "bins", 0),
			Signed:     optBool(L, 1, o, "signed", false),
		})
	}),
	"entropy": newObserver("entropy", []string{"bins", "quantized_bins"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewEntropyOptions(s, quant.EntropyOptions{
			Bins:          optInt(L, 1, o, "bins", 0),
			QuantizedBins: optInt(L, 1, o, "quantized_bins", 0),
		})
	}),
	"mse": newObserver("mse", []string{"bins", "grid", "max_shrink", "norm"}, func(L *lua.LState, o *lua.LTable, s quant.Scheme) (quant.Observer, error) {
		return quant.NewMSEOptions(s, quant.MSEOptions{
			Bins:      optInt(L, 1, o, "bins", 0),
			Grid:      optInt(L, 1, o, "grid", 0),
			MaxShrink: optNumber(L, 1, o, "max_shrink", 0),
			Norm:      optNumber(L, 1, o, "norm", 0),
		})
	}),
}

// newObserver makes qs.observer.KIND{...}: the scheme options plus the kind's own.
func newObserver(kind string, extra []string, build func(*lua.LState, *lua.LTable, quant.Scheme) (quant.Observer, error)) lua.LGFunction {
	keys := append(append([]string{}, schemeKeys...), extra...)
	return func(L *lua.LState) int {
		opts := checkOptions(L, 1, keys)
		s := checkScheme(L, 1, opts, "uint8")
		obs, err := build(L, opts, s)
		if err != nil {
			L.ArgError(1, err.Error())
		}
		L.Push(LVObserver(L, &Observer{Kind: kind, Observer: obs}))
		return 1
	}
}

// observerMethods is filled in init: the methods refer, through the constructors they call,
// back to the metatable that holds them.
var observerMethods = map[string]lua.LGFunction{
	"observe": observerObserve,
	"qparams": observerQParams,
	"range":   observerRange,
	"kind":    func(L *lua.LState) int { L.Push(lua.LString(CheckObserver(L, 1).Kind)); return 1 },
}

func registerObserverType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), ObserverTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(ObserverTypeName)
	mt.RawSetString("__index", L.SetFuncs(L.NewTable(), observerMethods))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		o := CheckObserver(L, 1)
		lo, hi := o.Range()
		if len(lo) == 1 {
			L.Push(lua.LString(fmt.Sprintf("observer(%s, range=[%s, %s])", o.Kind, num(float64(lo[0])), num(float64(hi[0])))))
		} else {
			L.Push(lua.LString(fmt.Sprintf("observer(%s, %d channels)", o.Kind, len(lo))))
		}
		return 1
	}))
	mt.RawSetString("__name", lua.LString(ObserverTypeName))
}

// CheckObserver returns the observer at argument n.
func CheckObserver(L *lua.LState, n int) *Observer {
	return checkUserData[*Observer](L, n, ObserverTypeName)
}

// LVObserver wraps o as a Lua value of type qs.Observer.
func LVObserver(L *lua.LState, o *Observer) lua.LValue {
	return newUserData(L, registerObserverType, ObserverTypeName, o)
}

// obs:observe(t): folds a tensor (or a table of numbers) into the statistics; returns
// the observer, so calls chain.
func observerObserve(L *lua.LState) int {
	o := CheckObserver(L, 1)
	if tbl, ok := L.Get(2).(*lua.LTable); ok {
		shape, values, err := nestedValues(ctxOf(L), tbl)
		if err != nil {
			L.ArgError(2, err.Error())
		}
		L.Replace(2, LVTensor(L, fromF64(L, tensor.F32, shape, values)))
	}
	t := CheckTensor(L, 2)
	if err := o.Observe(t); err != nil {
		raise(L, err)
	}
	L.Push(L.Get(1))
	return 1
}

// obs:qparams(): {scale=, zero_point=, ...}; numbers per tensor, lists per channel.
func observerQParams(L *lua.LState) int {
	p, err := CheckObserver(L, 1).QParams()
	if err != nil {
		raise(L, err)
	}
	L.Push(qparamsTable(L, p))
	return 1
}

// obs:range(): min, max of the data seen (numbers, or lists per channel); +inf, -inf
// before any data.
func observerRange(L *lua.LState) int {
	lo, hi := CheckObserver(L, 1).Range()
	if len(lo) == 1 {
		L.Push(lua.LNumber(lo[0]))
		L.Push(lua.LNumber(hi[0]))
	} else {
		L.Push(numberList(L, lo))
		L.Push(numberList(L, hi))
	}
	return 2
}
