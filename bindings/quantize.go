package bindings

import (
	"fmt"
	"path"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/plan"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/report"
)

// QuantizedTypeName is the metatable name of quantized models; their Value is a
// *Quantized.
const QuantizedTypeName = "qs.Quantized"

// Quantized is the result of qs.quantize: a planned quantization of a loaded model, a
// *plan.WeightOnly or a *plan.Static.
type Quantized struct {
	Source *LoadedModel
	Plan   plan.Plan
	title  string
	// output is the path the last qs.save of this plan wrote, as the recipe gave it. The
	// report shows it whichever format was written: a static plan saved as .safetensors
	// is written by its weight plan, whose saves the static report does not see.
	output string
}

// reportOf returns the plan's report with the recipe's title, input and output filled
// in, each as the recipe named it.
func (q *Quantized) reportOf(L *lua.LState) (*report.Report, error) {
	r, err := q.Plan.Report(ctxOf(L))
	if err != nil {
		return nil, err
	}
	r.Title = q.title
	r.Input = q.Source.Path
	if q.output != "" {
		r.Output = q.output
	}
	return r, nil
}

// QuantizeModule is `require "qs.quantize"`: qs.config and qs.quantize.
var QuantizeModule modules.Module = apiModule("qs.quantize", quantizeAPI,
	registerModelType, registerReportType, registerQuantizedType, registerCalibrationType, registerDataType)

// PreloadQuantize makes the quantize module available to a bare Lua state:
//
//	local qs = require "qs.quantize"
//	local q = qs.quantize(model, {weights = {dtype = "int8"}})
func PreloadQuantize(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.quantize", QuantizeModule.Loader(env))
}

var quantizeAPI = map[string]lua.LGFunction{
	"config":          config,
	"quantize":        quantizeModel,
	"calibrate":       calibrateAPI,
	"quantize_folder": quantizeFolder,
}

var quantizedMethods = map[string]lua.LGFunction{
	"report":   quantizedReport,
	"layers":   quantizedLayers,
	"scheme":   quantizedScheme,
	"warnings": quantizedWarnings,
	"evaluate": quantizedEvaluate,
	"check":    quantizedCheck,
}

func registerQuantizedType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), QuantizedTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(QuantizedTypeName)
	methods := L.SetFuncs(L.NewTable(), quantizedMethods)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		q := CheckQuantized(L, 1)
		switch key := L.CheckString(2); key {
		case "source":
			L.Push(LVModel(L, q.Source))
		case "path":
			L.Push(lua.LString(q.Source.Path))
		default:
			L.Push(methods.RawGetString(key))
		}
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		q := CheckQuantized(L, 1)
		ds := q.Plan.Decisions()
		n := 0
		for _, d := range ds {
			if d.Selected {
				n++
			}
		}
		L.Push(lua.LString(fmt.Sprintf("quantized(%s: %s, %d of %d layers)", q.Source.Path, q.Plan.Scheme(), n, len(ds))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(QuantizedTypeName))
}

// CheckQuantized returns the quantized model at argument n.
func CheckQuantized(L *lua.LState, n int) *Quantized {
	return checkUserData[*Quantized](L, n, QuantizedTypeName)
}

// LVQuantized wraps q as a Lua value of type qs.Quantized.
func LVQuantized(L *lua.LState, q *Quantized) lua.LValue {
	return newUserData(L, registerQuantizedType, QuantizedTypeName, q)
}

// configKey is the registry field holding the run's qs.config options (a Go map).
const configKey = "qs.config"

// configOf returns the options set by qs.config in this run (nil when none).
func configOf(L *lua.LState) map[string]any {
	m, _ := registryGet[map[string]any](L, configKey)
	return m
}

// qs.config{...}: recipe-level defaults for qs.quantize, below the call's own options.
// Later calls override earlier ones key by key; the merged options are checked at once.
func config(L *lua.LState) int {
	merged := mergeOptions(quantizeOptionMap(L, 1, L.CheckTable(1)), configOf(L))
	if _, _, err := modelOptions(merged); err != nil {
		L.ArgError(1, err.Error())
	}
	registrySet(L, configKey, merged)
	return 0
}

// quantizeOptionMap converts the option table at argument n to Go values for
// modelOptions; Lua functions in skip and include become predicates that call back into
// this Lua state.
func quantizeOptionMap(L *lua.LState, n int, t *lua.LTable) map[string]any {
	checkKeys(L, n, t, "", modelOptionKeys)
	predicateErr := predicateErrors(L)
	return goValue(L, t, func(fn *lua.LFunction) any {
		return layer.Predicate(functionLabel(fn), luaPredicate(L, fn, predicateErr))
	}).(map[string]any)
}

// functionLabel names a Lua predicate in the report's reasons: "function at
// recipes/x.lua:12".
func functionLabel(fn *lua.LFunction) string {
	if fn.Proto == nil {
		return "function"
	}
	return fmt.Sprintf("function at %s:%d", fn.Proto.SourceName, fn.Proto.LineDefined)
}

// predicateErrorKey holds the first error raised by a Lua predicate during this call.
const predicateErrorKey = "qs.predicate-error"

type predicateError struct{ err error }

func predicateErrors(L *lua.LState) *predicateError {
	if p, ok := registryGet[*predicateError](L, predicateErrorKey); ok {
		return p
	}
	p := &predicateError{}
	registrySet(L, predicateErrorKey, p)
	return p
}

// luaPredicate wraps a Lua function as a layer predicate. quantize calls predicates while
// it plans, on the goroutine that called it, which is this Lua state's. An error inside
// the function is kept (the layer counts as not matched) and raised once planning
// returns, with the function's own file:line.
func luaPredicate(L *lua.LState, fn *lua.LFunction, perr *predicateError) func(layer.Layer) bool {
	return func(l layer.Layer) bool {
		if perr.err != nil {
			return false
		}
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, layerTable(L, l)); err != nil {
			perr.err = err
			return false
		}
		v := L.Get(-1)
		L.Pop(1)
		return lua.LVAsBool(v)
	}
}

// raisePredicateError raises the error a Lua predicate hit, if any, and clears it.
func raisePredicateError(L *lua.LState) {
	p := predicateErrors(L)
	if p.err == nil {
		return
	}
	err := p.err
	p.err = nil
	if api, ok := err.(*lua.ApiError); ok {
		L.Error(api.Object, 0)
	}
	raise(L, err)
}

// qs.quantize(model, opts): plans the quantization of a loaded model; see
// docs/lua-api.md for the options. Nothing is read or written until q:report() or
// qs.save.
func quantizeModel(L *lua.LState) int {
	m := CheckModel(L, 1)
	t, gptq := takeStateGPTQ(L, 2, withDataFunction(L, 2, L.OptTable(2, L.NewTable())))
	merged := mergeOptions(quantizeOptionMap(L, 2, t), configOf(L))
	opts, acts, err := modelOptions(merged)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if opts.LayerTypes == nil { // no layer_types option: qs.load's types (checked there)
		opts.LayerTypes = m.Types
	}
	opts.Version = envOf(L).Version
	q := &Quantized{Source: m, title: titleFor(L, m)}
	if calib, ok := acts["calibrate"]; ok {
		if gptq != nil {
			L.ArgError(2, "method \"gptq\" is for the weights of a state dict; it does not combine with static quantization (activations)")
		}
		q.Plan = planStatic(L, m, opts, acts, calib)
		L.Push(LVQuantized(L, q))
		return 1
	}
	if len(acts) > 0 {
		L.ArgError(2, "option 'activations' needs calibrate = data (static quantization of an ONNX model); "+
			"leave it out for weight-only quantization")
	}
	wp, err := quantize.PlanWeights(ctxOf(L), m.File, opts)
	raisePredicateError(L)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	if gptq != nil {
		runStateGPTQ(L, 2, m, wp, gptq)
	}
	q.Plan = &plan.WeightOnly{WeightPlan: wp, Input: m.File, InputName: m.Path}
	L.Push(LVQuantized(L, q))
	return 1
}

// titleFor is the report title: the recipe's name and the model's path.
func titleFor(L *lua.LState, m *LoadedModel) string {
	name := strings.TrimPrefix(recipeName(L), "builtin:")
	name = strings.TrimSuffix(path.Base(name), ".lua")
	if name == "" || name == "." {
		return m.Path
	}
	return name + ": " + m.Path
}

// q:report(): measures every quantized layer (one streaming pass, cached) and returns the
// report. In a rerun of the same recipe in the same host (watch mode) the report also
// says what changed since the last run.
func quantizedReport(L *lua.LState) int {
	q := CheckQuantized(L, 1)
	r, err := q.reportOf(L)
	if err != nil {
		raise(L, err)
	}
	L.Push(LVReport(L, newReport(L, r)))
	return 1
}

// q:layers(): every layer with whether it is quantized and, if not, why.
func quantizedLayers(L *lua.LState) int {
	q := CheckQuantized(L, 1)
	ds := q.Plan.Decisions()
	out := L.CreateTable(len(ds), 0)
	for _, d := range ds {
		t := layerTable(L, d.Layer)
		t.RawSetString("quantized", lua.LBool(d.Selected))
		if d.Reason != "" {
			t.RawSetString("reason", lua.LString(d.Reason))
		}
		out.Append(t)
	}
	L.Push(out)
	return 1
}

func quantizedScheme(L *lua.LState) int {
	L.Push(lua.LString(CheckQuantized(L, 1).Plan.Scheme()))
	return 1
}

func quantizedWarnings(L *lua.LState) int {
	L.Push(stringList(L, CheckQuantized(L, 1).Plan.Warnings()))
	return 1
}
