package bindings

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/convert/llamagguf"
	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/plan"
)

// GGUFModule is `require "qs.gguf"` (qs.gguf in `qs`): Hugging Face Llama-family folders
// and F16/F32 GGUF files to GGUF files for llama.cpp and ollama.
var GGUFModule modules.Module = apiModule("qs.gguf", ggufAPI)

// PreloadGGUF makes the module available to a bare Lua state:
//
//	local gguf = require "qs.gguf"
//	gguf.convert("models/llama", "llama.Q4_K_M.gguf", {type = "Q4_K_M"})
func PreloadGGUF(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.gguf", GGUFModule.Loader(env))
}

var ggufAPI = map[string]lua.LGFunction{
	"convert": ggufConvert,
}

var ggufConvertKeys = []string{"imatrix", "override", "pure", "type"}

// qs.gguf.convert(src, out, {type=, override=, imatrix=, pure=}): converts src (a model
// folder or an F32/F16/BF16 .gguf) to the GGUF file out, streaming, at a llama-quantize
// file type (default Q8_0). Returns the report table.
func ggufConvert(L *lua.LState) int {
	src, out := L.CheckString(1), L.CheckString(2)
	opts := checkOptions(L, 3, ggufConvertKeys)
	absSrc := checkExisting(L, 1, src)
	absOut := resolve(L, 2, out)
	o := llamagguf.Options{Type: optString(L, 3, opts, "type", "Q8_0"), Pure: optBool(L, 3, opts, "pure", false)}
	if _, err := llamagguf.ParseMix(o.Type); err != nil {
		L.ArgError(3, "option 'type': "+err.Error())
	}
	o.Overrides = checkOverrides(L, opts)
	if p := optString(L, 3, opts, "imatrix", ""); p != "" {
		m, err := llamagguf.ReadImatrix(checkExisting(L, 3, p))
		if err != nil {
			raise(L, err)
		}
		o.Imatrix = m
	}
	env := envOf(L)
	if !env.Quiet {
		o.Progress = env.Stderr
	}
	o.QuantizedBy = "qscript " + env.Version
	lp, err := llamagguf.Plan(absSrc, o)
	if errors.Is(err, gguf.ErrMagic) { // src is a file, but not a GGUF one
		L.ArgError(1, fmt.Sprintf("%s is neither a Hugging Face model folder nor a GGUF file", src))
	}
	if err != nil {
		raise(L, err)
	}
	p := &plan.GGUF{Planned: lp}
	defer p.Close()
	err = writeOutput(L, 2, absOut, out, func() error { return p.Save(ctxOf(L), absOut, plan.SaveOptions{}) })
	if refused := (*plan.RefusedError)(nil); errors.As(err, &refused) {
		L.ArgError(2, err.Error())
	}
	if err != nil {
		raise(L, err)
	}
	L.Push(ggufReport(L, p.Written, out))
	return 1
}

// checkOverrides reads the override option: one "PATTERN=TYPE" string, several separated
// by commas, or a list of them.
func checkOverrides(L *lua.LState, opts *lua.LTable) []llamagguf.Override {
	var specs []string
	switch v := opts.RawGetString("override").(type) {
	case *lua.LNilType:
	case lua.LString:
		specs = strings.Split(string(v), ",")
	case *lua.LTable:
		for i := 1; i <= v.Len(); i++ {
			s, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				L.ArgError(3, fmt.Sprintf("option 'override': entry %d must be a string PATTERN=TYPE", i))
			}
			specs = append(specs, string(s))
		}
	default:
		L.ArgError(3, fmt.Sprintf("option 'override': string or list of strings expected, got %s", v.Type()))
	}
	var out []llamagguf.Override
	for _, s := range specs {
		o, err := llamagguf.ParseOverride(strings.TrimSpace(s))
		if err != nil {
			L.ArgError(3, "option 'override': "+err.Error())
		}
		out = append(out, o)
	}
	return out
}

// ggufReport is the Lua view of a conversion: the text report (tostring), the totals and
// one row per tensor.
func ggufReport(L *lua.LState, rep *llamagguf.Report, out string) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("output", lua.LString(out))
	t.RawSetString("type", lua.LString(rep.Type))
	t.RawSetString("bytes_before", lua.LNumber(rep.SrcBytes))
	t.RawSetString("bytes_after", lua.LNumber(rep.Bytes))
	list := L.NewTable()
	for _, tr := range rep.Tensors {
		row := L.NewTable()
		row.RawSetString("name", lua.LString(tr.Name))
		row.RawSetString("dims", numberList(L, tr.Dims))
		row.RawSetString("from", lua.LString(tr.From))
		row.RawSetString("to", lua.LString(tr.To))
		row.RawSetString("bytes_before", lua.LNumber(tr.SrcBytes))
		row.RawSetString("bytes_after", lua.LNumber(tr.Bytes))
		list.Append(row)
	}
	t.RawSetString("tensors", list)
	var buf bytes.Buffer
	rep.Print(&buf)
	text := buf.String()
	mt := L.NewTable()
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(strings.TrimRight(text, "\n")))
		return 1
	}))
	L.SetMetatable(t, mt)
	return t
}
