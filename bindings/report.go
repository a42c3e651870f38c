package bindings

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/report"

	"github.com/qscript-dev/qscript/internal/paths"
)

// ReportTypeName is the metatable name of reports; their Value is a *Report.
const ReportTypeName = "qs.Report"

// Report is a report handed to Lua. Prev is the report the same recipe produced at the
// same position in the host's previous run (watch mode), nil on a first run.
type Report struct {
	*report.Report
	Prev *report.Report
}

// Changes says what changed since the previous run: "" on a first run, "none" when
// nothing did, otherwise report.Diff's lines.
func (r *Report) Changes() string {
	if r.Prev == nil {
		return ""
	}
	if d := report.Diff(r.Prev, r.Report); d != "" {
		return strings.TrimRight(d, "\n")
	}
	return "none"
}

// String is the table, followed in a rerun by "changes since last run:".
func (r *Report) String() string {
	s := r.Report.String()
	if c := r.Changes(); c != "" {
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\nchanges since last run:"
		if c == "none" {
			s += " none"
		} else {
			for _, line := range strings.Split(c, "\n") {
				s += "\n  " + line
			}
		}
	}
	return strings.TrimRight(s, "\n")
}

// ReportModule is `require "qs.report"`: reading a report saved as JSON.
var ReportModule modules.Module = apiModule("qs.report", reportAPI, registerReportType)

// PreloadReport makes the report module available to a bare Lua state:
//
//	local reports = require "qs.report"
//	local r = reports.read("out/report.json")
func PreloadReport(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.report", ReportModule.Loader(env))
}

var reportAPI = map[string]lua.LGFunction{
	"diff": reportDiff,
	"read": reportRead,
}

// qs.report.read(path): a report written by r:json(path), for comparisons across runs.
func reportRead(L *lua.LState) int {
	path := L.CheckString(1)
	abs := checkExisting(L, 1, path)
	f, err := paths.Open(abs)
	if err != nil {
		raise(L, err)
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		raise(L, fmt.Errorf("%s: %w", path, err))
	}
	L.Push(LVReport(L, &Report{Report: r}))
	return 1
}

var reportMethods = map[string]lua.LGFunction{
	"json": reportSave(func(r *report.Report, path string) error { return r.SaveJSON(path) }),
	"html": reportSave(func(r *report.Report, path string) error { return r.SaveHTML(path) }),
	"diff": reportDiff,
}

func registerReportType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), ReportTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(ReportTypeName)
	methods := L.SetFuncs(L.NewTable(), reportMethods)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		r := CheckReport(L, 1)
		key := L.CheckString(2)
		if m := methods.RawGetString(key); m != lua.LNil {
			L.Push(m)
			return 1
		}
		L.Push(reportField(L, r, key))
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(CheckReport(L, 1).String()))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(ReportTypeName))
}

// CheckReport returns the report at argument n.
func CheckReport(L *lua.LState, n int) *Report {
	return checkUserData[*Report](L, n, ReportTypeName)
}

// LVReport wraps r as a Lua value of type qs.Report.
func LVReport(L *lua.LState, r *Report) lua.LValue {
	return newUserData(L, registerReportType, ReportTypeName, r)
}

// reportSave makes r:json(path) and r:html(path): atomic writes of the report.
func reportSave(save func(*report.Report, string) error) lua.LGFunction {
	return func(L *lua.LState) int {
		r := CheckReport(L, 1)
		path := L.CheckString(2)
		abs := resolve(L, 2, path)
		checkOutput(L, 2, abs, path)
		if err := paths.Replaceable(abs, ourReport); err != nil {
			L.ArgError(2, err.Error())
		}
		if err := writeOutput(L, 2, abs, path, func() error { return save(r.Report, abs) }); err != nil {
			raise(L, err)
		}
		L.Push(L.Get(1))
		return 1
	}
}

// r:diff(other) or qs.report.diff(prev, cur): what changed from the older report to the
// newer one, one change per line ("" when nothing did).
func reportDiff(L *lua.LState) int {
	a := CheckReport(L, 1)
	b := CheckReport(L, 2)
	L.Push(lua.LString(strings.TrimRight(report.Diff(a.Report, b.Report), "\n")))
	return 1
}

// reportField reads r.KEY; the names are those of the JSON form.
func reportField(L *lua.LState, r *Report, key string) lua.LValue {
	switch key {
	case "title":
		return lua.LString(r.Title)
	case "input":
		return lua.LString(r.Input)
	case "output":
		return lua.LString(r.Output)
	case "scheme":
		return lua.LString(r.Scheme)
	case "layers":
		t := L.CreateTable(len(r.Layers), 0)
		for _, l := range r.Layers {
			t.Append(reportLayerTable(L, l))
		}
		return t
	case "activations":
		t := L.CreateTable(len(r.Activations), 0)
		for _, a := range r.Activations {
			t.Append(activationTable(L, a))
		}
		return t
	case "totals":
		return totalsTable(L, r.Totals)
	case "eval":
		if r.Eval == nil {
			return lua.LNil
		}
		return evalTable(L, *r.Eval)
	case "accuracy":
		if r.Accuracy == nil {
			return lua.LNil
		}
		return accuracyTable(L, r.Accuracy)
	case "warnings":
		return stringList(L, r.Warnings)
	case "changes":
		if c := r.Changes(); c != "" {
			return lua.LString(c)
		}
		return lua.LNil
	}
	return lua.LNil
}

func reportLayerTable(L *lua.LState, l report.Layer) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("name", lua.LString(l.Name))
	t.RawSetString("type", lua.LString(l.Type))
	t.RawSetString("shape", numberList(L, l.Shape))
	t.RawSetString("dtype", lua.LString(l.DType))
	t.RawSetString("qdtype", lua.LString(l.QDType))
	t.RawSetString("granularity", lua.LString(l.Granularity))
	t.RawSetString("quantized", lua.LBool(l.Quantized))
	if l.Reason != "" {
		t.RawSetString("reason", lua.LString(l.Reason))
	}
	t.RawSetString("no_weight", lua.LBool(l.NoWeight))
	// A layer that stores no weight has no weight statistics: nil, as JSON's null, so
	// that a recipe cannot mistake them for a measured 0.
	if !l.NoWeight {
		t.RawSetString("scale_min", lua.LNumber(l.ScaleMin))
		t.RawSetString("scale_max", lua.LNumber(l.ScaleMax))
		t.RawSetString("sqnr_db", lua.LNumber(l.SQNR))
		t.RawSetString("mse", lua.LNumber(l.MSE))
		t.RawSetString("max_abs_err", lua.LNumber(l.MaxAbsErr))
		t.RawSetString("cosine", lua.LNumber(l.Cosine))
	}
	t.RawSetString("bytes_before", lua.LNumber(l.BytesBefore))
	t.RawSetString("bytes_after", lua.LNumber(l.BytesAfter))
	return t
}

func activationTable(L *lua.LState, a report.Activation) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("name", lua.LString(a.Name))
	t.RawSetString("observer", lua.LString(a.Observer))
	t.RawSetString("min", lua.LNumber(a.Min))
	t.RawSetString("max", lua.LNumber(a.Max))
	t.RawSetString("scale", lua.LNumber(a.Scale))
	t.RawSetString("zero_point", lua.LNumber(a.ZeroPoint))
	t.RawSetString("qdtype", lua.LString(a.QDType))
	return t
}

func totalsTable(L *lua.LState, s report.Totals) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("layers", lua.LNumber(s.Layers))
	t.RawSetString("quantized", lua.LNumber(s.Quantized))
	t.RawSetString("skipped", lua.LNumber(s.Skipped))
	t.RawSetString("bytes_before", lua.LNumber(s.BytesBefore))
	t.RawSetString("bytes_after", lua.LNumber(s.BytesAfter))
	t.RawSetString("ratio", lua.LNumber(s.Ratio))
	return t
}

func evalTable(L *lua.LState, e report.Eval) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("samples", lua.LNumber(e.Samples))
	t.RawSetString("output_sqnr_db", lua.LNumber(e.OutputSQNR))
	t.RawSetString("top1_agreement", lua.LNumber(e.Top1Agreement))
	if e.FloatAccuracy != nil {
		t.RawSetString("float_accuracy", lua.LNumber(*e.FloatAccuracy))
	}
	if e.QuantAccuracy != nil {
		t.RawSetString("quant_accuracy", lua.LNumber(*e.QuantAccuracy))
	}
	return t
}

// accuracyTable is {samples=, output_sqnr_db=, nodes={{name=, activation=, min=, max=,
// sqnr_db=, cost_db=}...}, kept_float={{name=, loop=, gain_db=, metric=}...}}.
func accuracyTable(L *lua.LState, a *report.Accuracy) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("samples", lua.LNumber(a.Samples))
	t.RawSetString("output_sqnr_db", lua.LNumber(a.OutputSQNR))
	nodes := L.CreateTable(len(a.Nodes), 0)
	for _, n := range a.Nodes {
		e := L.NewTable()
		e.RawSetString("name", lua.LString(n.Name))
		e.RawSetString("activation", lua.LString(n.Activation))
		e.RawSetString("min", lua.LNumber(n.Min))
		e.RawSetString("max", lua.LNumber(n.Max))
		e.RawSetString("sqnr_db", lua.LNumber(n.SQNR))
		e.RawSetString("cost_db", lua.LNumber(n.CostDB))
		nodes.Append(e)
	}
	t.RawSetString("nodes", nodes)
	kept := L.CreateTable(len(a.Kept), 0)
	for _, k := range a.Kept {
		e := L.NewTable()
		e.RawSetString("name", lua.LString(k.Name))
		e.RawSetString("loop", lua.LString(k.Loop))
		e.RawSetString("gain_db", lua.LNumber(k.GainDB))
		if k.Metric != nil {
			e.RawSetString("metric", lua.LNumber(*k.Metric))
		}
		kept.Append(e)
	}
	t.RawSetString("kept_float", kept)
	return t
}

// runCounterKey is the registry field counting the reports made in this run.
const runCounterKey = "qs.reports"

// newReport wraps a fresh report for Lua, pairing it with the previous run's report at
// the same position and recording it for the next run.
func newReport(L *lua.LState, r *report.Report) *Report {
	reg := L.Get(lua.RegistryIndex).(*lua.LTable)
	n := 0
	if c, ok := reg.RawGetString(runCounterKey).(lua.LNumber); ok {
		n = int(c)
	}
	reg.RawSetString(runCounterKey, lua.LNumber(n+1))
	out := &Report{Report: r}
	cache := envOf(L).Cache
	if cache == nil {
		return out
	}
	v, err := cache.Value("qs.report-history:"+recipeName(L), func() (any, error) { return &report.History{}, nil })
	if err == nil {
		out.Prev = v.(*report.History).Swap(n, r)
	}
	return out
}

// recipeName is the chunk name of the outermost Lua function on the stack: the recipe
// that is running ("recipes/x.lua", or "builtin:recipes/x.lua").
func recipeName(L *lua.LState) string {
	name := ""
	for level := 0; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("S", dbg, lua.LNil); err == nil && dbg.What != "G" && dbg.Source != "" && dbg.Source != "[G]" {
			name = dbg.Source
		}
	}
	return name
}
