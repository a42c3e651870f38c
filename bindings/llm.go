package bindings

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/llm"
	"github.com/qscript-dev/qscript/plan"
	"github.com/qscript-dev/qscript/report"
)

var quantizeFolderKeys = []string{"group_size", "ignore", "max_shard_size", "model", "numerics", "out", "overrides",
	"overwrite", "progress", "scheme", "targets"}

// qs.quantize_folder{model=DIR, out=DIR, scheme="W4A16", group_size=, targets=, ignore=,
// overrides={{targets={...}, scheme=, group_size=}}, max_shard_size="5GB",
// overwrite=false, numerics="compressed-tensors", progress=}: quantizes a Hugging Face
// folder into a compressed-tensors folder (package llm) and returns a summary table.
func quantizeFolder(L *lua.LState) int {
	t := checkOptions(L, 1, quantizeFolderKeys)
	env := envOf(L)
	model, out := optString(L, 1, t, "model", ""), optString(L, 1, t, "out", "")
	if model == "" || out == "" {
		L.ArgError(1, "options 'model' (a Hugging Face model folder) and 'out' (the folder to write) are required")
	}
	optChoice(L, 1, t, "numerics", "compressed-tensors", []string{"compressed-tensors"})
	o := llm.Options{
		Scheme:    optString(L, 1, t, "scheme", "W4A16"),
		GroupSize: optInt(L, 1, t, "group_size", 0),
		Targets:   optStrings(L, 1, t, "targets"),
		Ignore:    optStrings(L, 1, t, "ignore"),
	}
	if v := optField(L, 1, t, "overrides", lua.LTTable); v != lua.LNil {
		ov := v.(*lua.LTable)
		for i := 1; i <= ov.Len(); i++ {
			e, ok := ov.RawGetInt(i).(*lua.LTable)
			if !ok {
				L.ArgError(1, fmt.Sprintf("option 'overrides'[%d]: table {targets = {...}, scheme = ...} expected", i))
			}
			checkKeys(L, 1, e, fmt.Sprintf("overrides[%d]", i), []string{"group_size", "scheme", "targets"})
			o.Overrides = append(o.Overrides, llm.Override{Targets: optStrings(L, 1, e, "targets"),
				Scheme: optString(L, 1, e, "scheme", ""), GroupSize: optInt(L, 1, e, "group_size", 0)})
		}
	}
	so := plan.SaveOptions{Overwrite: optBool(L, 1, t, "overwrite", false)}
	if s := optString(L, 1, t, "max_shard_size", ""); s != "" {
		n, err := llm.ParseSize(s)
		if err != nil {
			L.ArgError(1, err.Error())
		}
		so.MaxShardSize = n
	}
	bar := optBool(L, 1, t, "progress", true)
	f, err := hf.Open(resolve(L, 1, model))
	if err != nil {
		raise(L, err)
	}
	defer f.Close()
	lp, err := llm.Plan(f, o)
	if err != nil {
		raise(L, err)
	}
	p := &plan.Folder{Planned: lp}
	if err := savePlan(L, p, resolve(L, 1, out), so, bar); err != nil {
		raise(L, err)
	}
	res := p.Written
	if !env.Quiet && env.Stderr != nil {
		for _, w := range p.Warnings() {
			fmt.Fprintf(env.Stderr, "warning: %s\n", w)
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(env.Stderr, "note: not copied: %s\n", s)
		}
	}
	L.Push(folderResult(L, lp, res))
	return 1
}

func optStrings(L *lua.LState, n int, t *lua.LTable, key string) []string {
	switch v := t.RawGetString(key).(type) {
	case *lua.LNilType:
		return nil
	case lua.LString:
		return []string{string(v)}
	case *lua.LTable:
		return stringListArg(L, n, v, "option '"+key+"'")
	default:
		L.ArgError(n, fmt.Sprintf("option '%s': list of strings expected, got %s", key, v.Type()))
	}
	return nil
}

// folderResult is the table quantize_folder returns.
func folderResult(L *lua.LState, p *llm.Planned, res *llm.Result) *lua.LTable {
	r := L.NewTable()
	r.RawSetString("output", lua.LString(res.Dir))
	r.RawSetString("shards", stringList(L, res.Shards))
	r.RawSetString("copied", stringList(L, res.Copied))
	r.RawSetString("ignored", stringList(L, p.Ignore))
	r.RawSetString("quantized", lua.LNumber(len(res.Layers)))
	r.RawSetString("formats", stringList(L, p.Formats()))
	r.RawSetString("in_bytes", lua.LNumber(res.InBytes))
	r.RawSetString("out_bytes", lua.LNumber(res.OutBytes))
	rep := p.Report(res)
	groups := L.NewTable()
	for _, g := range rep.GroupTotals() {
		e := L.NewTable()
		e.RawSetString("name", lua.LString(g.Name))
		e.RawSetString("scheme", lua.LString(g.Scheme))
		e.RawSetString("format", lua.LString(p.Format(g.Name)))
		e.RawSetString("layers", lua.LNumber(g.Layers))
		e.RawSetString("mean_sqnr_db", lua.LNumber(g.MeanSQNR))
		e.RawSetString("min_sqnr_db", lua.LNumber(g.MinSQNR))
		groups.Append(e)
	}
	r.RawSetString("groups", groups)
	worst := L.NewTable()
	for _, l := range rep.Worst(report.WorstCount) {
		e := L.NewTable()
		e.RawSetString("layer", lua.LString(l.Name))
		e.RawSetString("scheme", lua.LString(l.QDType))
		e.RawSetString("sqnr_db", lua.LNumber(l.SQNR))
		worst.Append(e)
	}
	r.RawSetString("worst", worst)
	r.RawSetString("summary", lua.LString(p.Summary(res)))
	r.RawSetString("report", LVReport(L, &Report{Report: rep}))
	return r
}
