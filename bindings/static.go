package bindings

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/plan"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/static"
	"github.com/qscript-dev/qscript/tensor"
)

// CalibrationTypeName is the metatable name of calibrations; their Value is a
// *calib.Result.
const CalibrationTypeName = "qs.Calibration"

// activationKeys are the options of activations = {...} and of qs.calibrate.
var activationKeys = []string{"batch_axis", "batch_size", "calibrate", "check", "dtype", "max_memory", "min_sqnr", "observer", "percentile", "progress", "reduce_range", "samples", "state", "symmetric"}

// foldedONNX returns an ONNX checkpoint with the weights that Constant nodes compute
// stored as initializers (static.FoldWeights), so that model:layers, the layer selection
// and static quantization see them as the weights they are; other checkpoints are
// returned as they are. A model whose constant subgraph graph/ cannot run is returned
// unchanged: static quantization names the node when it folds again.
func foldedONNX(L *lua.LState, f *formats.File) *formats.File {
	o, ok := f.Model.(*onnx.File)
	if !ok {
		return f
	}
	fold := func() (any, error) {
		ff, folded, err := static.FoldWeights(ctxOf(L), o)
		if err != nil || len(folded) == 0 {
			return f, nil
		}
		return &formats.File{Model: ff, Path: f.Path, Format: f.Format}, nil
	}
	v, _ := cached(L, "qs.folded|", fileKey(L, f.Path), fold)
	if v == nil {
		return f
	}
	return v.(*formats.File)
}

// onnxFileOf returns the ONNX file of a loaded model, raising an argument error naming
// what needs it otherwise.
func onnxFileOf(L *lua.LState, n int, m *LoadedModel, what string) *onnx.File {
	if f, ok := m.File.Model.(*onnx.File); ok {
		return f
	}
	L.ArgError(n, fmt.Sprintf("%s needs an ONNX model (it runs the graph); %s is %s", what, m.Path, m.File.Format))
	return nil
}

// loadGraph loads the model's graph through the host's cache (graphs are immutable).
func loadGraph(L *lua.LState, m *LoadedModel, f *onnx.File) *graph.Graph {
	v, err := cached(L, "qs.graph|", fileKey(L, m.File.Path), func() (any, error) { return graph.LoadONNX(f) })
	if err != nil {
		raise(L, err)
	}
	return v.(*graph.Graph)
}

// calibOptions reads the calibration options of converted option table t: activations =
// {...} in qs.quantize (goValue's form, prefix "activations.") or qs.calibrate's
// (luaOptions', prefix ""). A wrong type raises an argument error naming the option.
func calibOptions(L *lua.LState, n int, t map[string]any, prefix string, numerics quant.Numerics) calib.Options {
	env := envOf(L)
	f := optionMap{L: L, n: n, m: t, prefix: prefix}
	o := calib.Options{
		Samples:    f.int("samples", calib.DefaultSamples),
		Observer:   f.choice("observer", calib.DefaultObserver, calib.Observers),
		Percentile: f.number("percentile", 0),
		BatchSize:  f.int("batch_size", 0),
		MaxMemory:  int64(f.number("max_memory", 0)),
		Progress:   env.Stderr,
	}
	qt, _ := quant.ParseQType(f.choice("dtype", "uint8", []string{"uint8", "int8"}))
	o.Scheme = quant.Scheme{
		QType:       qt,
		Symmetric:   f.bool("symmetric", false),
		ReduceRange: f.bool("reduce_range", false),
		Numerics:    numerics,
	}
	if v := f.get("progress", lua.LTBool); v != nil { // absent: calib.ProgressAuto
		o.ProgressMode = calib.ProgressOff
		if v.(bool) {
			o.ProgressMode = calib.ProgressOn
		}
	}
	if env.Quiet || env.Stderr == nil {
		o.ProgressMode = calib.ProgressOff
	} else {
		w := env.Stderr
		o.Warn = func(s string) { fmt.Fprintf(w, "warning: %s\n", s) }
	}
	return o
}

// axesAndState reads the batch_axis and state options of option table t (nil when absent).
func axesAndState(L *lua.LState, n int, t map[string]any) (axes map[string]int, state []calib.StatePair) {
	if v, ok := t["batch_axis"]; ok {
		axes = batchAxes(L, n, v)
	}
	if v, ok := t["state"]; ok {
		state = statePairs(L, n, v)
	}
	return axes, state
}

// batchAxes reads batch_axis = {input = axis, ...} (-1: fed as it is).
func batchAxes(L *lua.LState, n int, v any) map[string]int {
	m, ok := v.(map[string]any)
	if !ok {
		L.ArgError(n, fmt.Sprintf("option 'activations.batch_axis': a table of input name = axis expected, got %s", goTypeName(v)))
	}
	out := map[string]int{}
	for name, a := range m {
		f, ok := a.(float64)
		if !ok || f != float64(int(f)) || f < -1 {
			L.ArgError(n, fmt.Sprintf("option 'activations.batch_axis': input %q: an axis (0, 1, ... or -1 for none) expected, got %v", name, a))
		}
		out[name] = int(f)
	}
	return out
}

// statePairs reads state = {out = "stateN", into = "state"} or a list of such tables.
func statePairs(L *lua.LState, n int, v any) []calib.StatePair {
	one := func(e any) calib.StatePair {
		m, ok := e.(map[string]any)
		out, ok1 := m["out"].(string)
		into, ok2 := m["into"].(string)
		if !ok || !ok1 || !ok2 || len(m) != 2 {
			L.ArgError(n, fmt.Sprintf("option 'activations.state': {out = \"output name\", into = \"input name\"} expected, got %v", e))
		}
		return calib.StatePair{Out: out, Into: into}
	}
	if list, ok := v.([]any); ok {
		var pairs []calib.StatePair
		for _, e := range list {
			pairs = append(pairs, one(e))
		}
		return pairs
	}
	return []calib.StatePair{one(v)}
}

// calibrate runs (or finds in the host's cache) the calibration of m on d.
func calibrate(L *lua.LState, m *LoadedModel, f *onnx.File, d data.Source, dataKey string, o calib.Options) *calib.Result {
	g := loadGraph(L, m, f)
	key := ""
	if modelKey := fileKey(L, m.File.Path); modelKey != "" && dataKey != "" {
		key = calib.Key(modelKey, dataKey, o)
	}
	v, err := cached(L, "", key, func() (any, error) { return calib.Calibrate(ctxOf(L), g, d, o) })
	if err != nil {
		raise(L, err)
	}
	return v.(*calib.Result)
}

// dataArg turns the value given as calibration or evaluation data into a source and its
// cache key ("" when it is not cacheable).
func dataArg(L *lua.LState, n int, v lua.LValue) (data.Source, string) {
	if ud, ok := v.(*lua.LUserData); ok {
		if d, ok := ud.Value.(*Data); ok {
			return d.Source, d.Key
		}
	}
	src, err := sourceOf(L, n, v, nil)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return src, ""
}

// qs.calibrate(model, data [, {samples=150, observer="histogram", dtype="uint8",
// symmetric=false, reduce_range=false, percentile=, batch_size=, progress=}]): runs the
// ONNX model over the data and returns the activation ranges (a qs.Calibration, usable
// as activations.calibrate in qs.quantize).
func calibrateAPI(L *lua.LState) int {
	m := CheckModel(L, 1)
	f := onnxFileOf(L, 1, m, "calibration")
	opts := checkOptions(L, 3, slices.DeleteFunc(slices.Clone(activationKeys), func(k string) bool { return k == "calibrate" }))
	src, key := dataArg(L, 2, L.Get(2))
	t := luaOptions(L, 3, opts)
	o := calibOptions(L, 3, t, "", quant.Torch)
	o.BatchAxes, o.State = axesAndState(L, 3, t)
	res := calibrate(L, m, f, src, key, o)
	L.Push(LVCalibration(L, res))
	return 1
}

// planStatic plans static quantization from qs.quantize's options (activations holds
// calibrate = data or a qs.Calibration); package static does the work.
func planStatic(L *lua.LState, m *LoadedModel, opts quantize.Options, acts map[string]any, calibrateWith any) *plan.Static {
	f := onnxFileOf(L, 1, m, "static quantization (activations.calibrate)")
	if err := optionKeysError("activations", slices.Collect(maps.Keys(acts)), activationKeys); err != nil {
		L.ArgError(2, err.Error())
	}
	// Every option is checked, and the layer predicates run, before calibration, which
	// is the slow part.
	prep, err := static.Prepare(ctxOf(L), m.File, opts)
	raisePredicateError(L)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	prep.Options.Input = m.Path
	var res *calib.Result
	var src data.Source
	var co calib.Options
	if r, ok := calibrateWith.(*calib.Result); ok {
		res = r
	} else {
		var key string
		switch v := calibrateWith.(type) {
		case *Data:
			src, key = v.Source, v.Key
		default:
			var err error
			if src, err = sourceFromGo(v); err != nil {
				L.ArgError(2, "option 'activations.calibrate': "+err.Error())
			}
		}
		for _, k := range slices.Sorted(maps.Keys(acts)) { // what calibOptions reads is a scalar
			switch acts[k].(type) {
			case string, bool, float64:
			default:
				if !slices.Contains([]string{"batch_axis", "calibrate", "check", "min_sqnr", "state"}, k) {
					L.ArgError(2, fmt.Sprintf("option 'activations.%s': a string, number or boolean expected, got %T", k, acts[k]))
				}
			}
		}
		axes, state := axesAndState(L, 2, acts)
		co = calibOptions(L, 2, acts, "activations.", opts.Numerics)
		co.BatchAxes, co.State = axes, state
		res = calibrate(L, m, f, src, key, co)
	}
	sm, err := prep.Plan(ctxOf(L), res)
	if err != nil {
		L.ArgError(2, err.Error())
	}
	// The calibration data also checks the result (activations.check = false skips it).
	if check, _ := acts["check"].(bool); src != nil && (acts["check"] == nil || check) {
		minSQNR, _ := acts["min_sqnr"].(float64)
		sm = checkStatic(L, m, f, sm, src, static.CheckOptions{MinSQNR: minSQNR, Bind: calib.BindOptions{BatchAxes: co.BatchAxes}, State: co.State})
	} else if acts["min_sqnr"] != nil {
		L.ArgError(2, "option 'activations.min_sqnr' needs calibrate = data (the samples it measures on)")
	}
	return &plan.Static{Plan: sm, Input: m.File}
}

// checkStatic runs the accuracy check (and its loops) of a static plan.
func checkStatic(L *lua.LState, m *LoadedModel, f *onnx.File, sm *static.Plan, src data.Source, o static.CheckOptions) *static.Plan {
	fg := loadGraph(L, m, f)
	checked, err := sm.Check(ctxOf(L), fg, src, o)
	if err != nil {
		raise(L, err)
	}
	return checked
}

// q:check(data [, {samples=16, min_sqnr=, eval=, max_drop=, batch_axis=}]): measures the
// static plan's damage on data (output SQNR, each node's own damage, warnings) and, with
// min_sqnr or eval and max_drop, keeps the most damaging nodes in float; the plan, its
// report and what qs.save writes follow. Returns the report's accuracy section.
func quantizedCheck(L *lua.LState) int {
	q := CheckQuantized(L, 1)
	opts := checkOptions(L, 3, []string{"batch_axis", "eval", "max_drop", "min_sqnr", "samples", "state"})
	st, ok := q.Plan.(*plan.Static)
	if !ok {
		L.RaiseError("check runs the quantized graph: it needs static quantization of an ONNX model (activations = {calibrate = data})")
	}
	src, _ := dataArg(L, 2, L.Get(2))
	o := static.CheckOptions{Samples: optInt(L, 3, opts, "samples", 0), MinSQNR: optNumber(L, 3, opts, "min_sqnr", 0),
		MaxDrop: optNumber(L, 3, opts, "max_drop", 0)}
	o.Bind.BatchAxes, o.State = axesAndState(L, 3, luaOptions(L, 3, opts))
	if v := opts.RawGetString("eval"); v != lua.LNil {
		o.Eval, _ = dataArg(L, 3, v)
	}
	if (o.Eval == nil) != (o.MaxDrop == 0) {
		L.ArgError(3, "options 'eval' and 'max_drop' go together: labelled data and the accuracy drop allowed (0.01 for one point)")
	}
	st.Plan = checkStatic(L, q.Source, q.Source.File.Model.(*onnx.File), st.Plan, src, o)
	L.Push(accuracyTable(L, st.Plan.Report().Accuracy))
	return 1
}

// maxFunctionSamples bounds the samples a data function gives when samples is negative.
const maxFunctionSamples = 100000

// withDataFunction returns the qs.quantize option table t with activations.calibrate, when
// it is a Lua function, replaced by the data it gives: the function is called with 1, 2, ...
// on this Lua thread, before anything runs, and returns one sample (a tensor for a model's
// only input, or a table of input name = tensor, without the batch axis) or nil after the
// last; at most activations.samples (default 150) are asked for. t itself is not changed.
func withDataFunction(L *lua.LState, n int, t *lua.LTable) *lua.LTable {
	acts, ok := t.RawGetString("activations").(*lua.LTable)
	if !ok {
		return t
	}
	fn, ok := acts.RawGetString("calibrate").(*lua.LFunction)
	if !ok {
		return t
	}
	limit := calib.DefaultSamples
	if v, ok := acts.RawGetString("samples").(lua.LNumber); ok {
		limit = int(v)
	}
	if limit < 0 {
		limit = maxFunctionSamples
	}
	var samples []data.Sample
	for i := 1; i <= limit; i++ {
		L.Push(fn)
		L.Push(lua.LNumber(i))
		L.Call(1, 1)
		v := L.Get(-1)
		L.Pop(1)
		if v == lua.LNil {
			break
		}
		sample, err := functionSample(v)
		if err != nil {
			L.ArgError(n, fmt.Sprintf("option 'activations.calibrate': the data function's sample %d: %v", i, err))
		}
		samples = append(samples, sample)
	}
	src, err := data.Samples(samples)
	if err != nil {
		L.ArgError(n, "option 'activations.calibrate': the data function: "+err.Error())
	}
	out, outActs := copyTable(L, t), copyTable(L, acts)
	outActs.RawSetString("calibrate", LVData(L, &Data{Source: src}))
	out.RawSetString("activations", outActs)
	return out
}

// copyTable returns a shallow copy of t.
func copyTable(L *lua.LState, t *lua.LTable) *lua.LTable {
	to := L.NewTable()
	t.ForEach(func(k, v lua.LValue) { to.RawSet(k, v) })
	return to
}

// functionSample reads one sample a data function returned.
func functionSample(v lua.LValue) (data.Sample, error) {
	if t := tensorValue(v); t != nil {
		return data.Sample{Inputs: map[string]*tensor.Tensor{"": t}}, nil
	}
	tbl, ok := v.(*lua.LTable)
	if !ok {
		return data.Sample{}, fmt.Errorf("a tensor or a table of input name = tensor expected, got %s", v.Type())
	}
	s := data.Sample{Inputs: map[string]*tensor.Tensor{}}
	var bad error
	tbl.ForEach(func(k, e lua.LValue) {
		name, ok := k.(lua.LString)
		t := tensorValue(e)
		if !ok || t == nil {
			if bad == nil {
				bad = fmt.Errorf("input name = tensor expected, got %s = %s", k.Type(), e.Type())
			}
			return
		}
		s.Inputs[string(name)] = t
	})
	return s, bad
}

// sourceFromGo turns converted option values into data: a tensor (first axis =
// samples), a list of per-sample tensors, or a table of input name = tensor.
func sourceFromGo(v any) (data.Source, error) {
	switch x := v.(type) {
	case *tensor.Tensor:
		return data.Tensors(map[string]*tensor.Tensor{"": x}, nil)
	case []any:
		samples := make([]data.Sample, len(x))
		for i, e := range x {
			t, ok := e.(*tensor.Tensor)
			if !ok {
				return nil, fmt.Errorf("sample %d: tensor expected, got %s", i+1, goTypeName(e))
			}
			samples[i] = data.Sample{Inputs: map[string]*tensor.Tensor{"": t}}
		}
		return data.Samples(samples)
	case map[string]any:
		inputs := map[string]*tensor.Tensor{}
		for k, e := range x {
			t, ok := e.(*tensor.Tensor)
			if !ok {
				return nil, fmt.Errorf("input %q: tensor expected, got %s", k, goTypeName(e))
			}
			inputs[k] = t
		}
		return data.Tensors(inputs, nil)
	}
	return nil, fmt.Errorf("data expected (qs.data.npy(...), a tensor, or a table of tensors), got %s", goTypeName(v))
}

// goTypeName names a converted value in data errors: by its Lua type, or its Go type
// for a userdata's value or a function.
func goTypeName(v any) string {
	switch v.(type) {
	case nil, string, float64, bool, []any, map[string]any:
		return luaTypeName(v)
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}

// q:evaluate(data [, {samples=, batch_size=}]): runs the float and the quantized model
// on held-out data; the figures go into the report (eval) and are returned as a table.
func quantizedEvaluate(L *lua.LState) int {
	q := CheckQuantized(L, 1)
	opts := checkOptions(L, 3, []string{"batch_size", "samples"})
	st, ok := q.Plan.(*plan.Static)
	if !ok {
		L.RaiseError("evaluate runs the quantized graph: it needs static quantization of an ONNX model (activations = {calibrate = data})")
	}
	src, _ := dataArg(L, 2, L.Get(2))
	fg := loadGraph(L, q.Source, q.Source.File.Model.(*onnx.File))
	qg, err := st.Graph()
	if err != nil {
		raise(L, err)
	}
	e, err := static.Evaluate(ctxOf(L), fg, qg, src, static.EvalOptions{
		Samples:   optInt(L, 3, opts, "samples", 0),
		BatchSize: optInt(L, 3, opts, "batch_size", 0),
	})
	if err != nil {
		raise(L, err)
	}
	st.Eval = e
	L.Push(evalTable(L, *e))
	return 1
}

func registerCalibrationType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), CalibrationTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(CalibrationTypeName)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		r := CheckCalibration(L, 1)
		switch L.CheckString(2) {
		case "samples":
			L.Push(lua.LNumber(r.Samples))
		case "observer":
			L.Push(lua.LString(r.Observer))
		case "source":
			L.Push(lua.LString(r.Source))
		case "warnings":
			L.Push(stringList(L, r.Warnings))
		case "activations":
			out := L.CreateTable(len(r.Activations), 0)
			for _, a := range r.Activations {
				t := L.NewTable()
				t.RawSetString("name", lua.LString(a.Name))
				t.RawSetString("min", lua.LNumber(a.Min))
				t.RawSetString("max", lua.LNumber(a.Max))
				t.RawSetString("clip_min", lua.LNumber(a.ClipMin))
				t.RawSetString("clip_max", lua.LNumber(a.ClipMax))
				t.RawSetString("scale", lua.LNumber(a.QParams.Scale[0]))
				t.RawSetString("zero_point", lua.LNumber(a.QParams.ZeroPoint[0]))
				t.RawSetString("consumers", stringList(L, a.Consumers))
				out.Append(t)
			}
			L.Push(out)
		default:
			L.Push(lua.LNil)
		}
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		r := CheckCalibration(L, 1)
		L.Push(lua.LString(fmt.Sprintf("calibration(%s, %d samples of %s, %d activations)", calib.ObserverLabel(r.Observer), r.Samples, r.Source, len(r.Activations))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(CalibrationTypeName))
}

// CheckCalibration returns the calibration at argument n.
func CheckCalibration(L *lua.LState, n int) *calib.Result {
	return checkUserData[*calib.Result](L, n, CalibrationTypeName)
}

// LVCalibration wraps r as a Lua value of type qs.Calibration.
func LVCalibration(L *lua.LState, r *calib.Result) lua.LValue {
	return newUserData(L, registerCalibrationType, CalibrationTypeName, r)
}
