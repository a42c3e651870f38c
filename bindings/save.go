package bindings

import (
	"fmt"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/llm"
	"github.com/qscript-dev/qscript/plan"
	"github.com/qscript-dev/qscript/quantize"
)

// IOModule is `require "qs.io"`: qs.save, the only way recipes write models.
var IOModule modules.Module = apiModule("qs.io", ioAPI)

// PreloadIO makes the io module available to a bare Lua state:
//
//	local qsio = require "qs.io"
//	qsio.save(q, "out/model.int8.safetensors")
func PreloadIO(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.io", IOModule.Loader(env))
}

var ioAPI = map[string]lua.LGFunction{
	"save":        save,
	"note":        note,
	"usage_error": usageError,
}

// qs.usage_error(message [, level]): raises a usage error, for a wrong key=value argument
// of a recipe. It reads like error(message, level) (level 1, the default, is the position of
// the function that calls it), but qscript exits with 2, as for a wrong flag, not 1.
func usageError(L *lua.LState) int {
	msg := L.CheckString(1)
	level := L.OptInt(2, 1)
	modules.RaiseUsage(L, msg, level)
	return 0
}

// qs.note(text): a note for the user on stderr ("note: text"), left out under -q, so a
// recipe's remarks never mix with its printed report.
func note(L *lua.LState) int {
	text := L.CheckString(1)
	if env := envOf(L); env != nil && !env.Quiet && env.Stderr != nil {
		fmt.Fprintf(env.Stderr, "note: %s\n", text)
	}
	return 0
}

// saveKeys are the options of qs.save.
var saveKeys = []string{"config", "format", "layout", "metadata", "onnx"}

// qs.save(model, path [, {format=, layout=, metadata=, config=}]): writes a quantized
// model (or a loaded one: a format conversion) atomically. Returns path.
func save(L *lua.LState) int {
	path := L.CheckString(2)
	opts := checkOptions(L, 3, saveKeys)
	so := plan.SaveOptions{SaveOptions: quantize.SaveOptions{
		Layout:   optChoice(L, 3, opts, "layout", quantize.LayoutCompressed, quantize.Layouts),
		Metadata: checkMetadata(L, 3, opts),
	}}
	format := optString(L, 3, opts, "format", "")
	if format != "" {
		format = optChoice(L, 3, opts, "format", "", plan.Formats)
	} else if f, err := plan.FormatOf(path, ""); err != nil {
		L.ArgError(2, err.Error())
	} else {
		format = f
	}
	so.Format = format
	so.ONNX = checkONNXSave(L, 3, opts)
	if format != "onnx" && opts.RawGetString("onnx") != lua.LNil {
		L.ArgError(3, "option 'onnx' applies to .onnx outputs (format \"onnx\")")
	}
	if format == "pt" && len(so.Metadata) > 0 {
		L.ArgError(3, "option 'metadata': a .pt file has no place for metadata (a string entry would break load_state_dict); save as .safetensors or .onnx to keep it, or leave metadata out")
	}
	if c := optString(L, 3, opts, "config", ""); c != "" {
		so.Config = checkExisting(L, 3, c)
	}
	abs := resolve(L, 2, path)
	var obj any
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		obj = ud.Value
	}
	var write func() error
	switch v := obj.(type) {
	case *Quantized:
		write = func() error {
			if err := savePlan(L, v.Plan, abs, so, true); err != nil {
				return err
			}
			v.output = path
			return nil
		}
	case *LoadedModel:
		if abs == v.File.Path {
			L.ArgError(2, "refusing to overwrite the input model "+path)
		}
		write = func() error { return convert(L, v, abs, format, so.SaveOptions) }
	default:
		L.ArgError(1, fmt.Sprintf("%s or %s expected, got %s", QuantizedTypeName, ModelTypeName, typeOf(L.Get(1))))
	}
	checkOutput(L, 2, abs, path)
	if err := writeOutput(L, 2, abs, path, write); err != nil {
		if ctx := ctxOf(L); ctx.Err() != nil {
			raise(L, ctx.Err())
		}
		raise(L, err)
	}
	L.Push(lua.LString(path))
	return 1
}

// checkMetadata reads the metadata option: a table of string keys and string values.
func checkMetadata(L *lua.LState, n int, opts *lua.LTable) map[string]string {
	v := optField(L, n, opts, "metadata", lua.LTTable)
	if v == lua.LNil {
		return nil
	}
	out := map[string]string{}
	v.(*lua.LTable).ForEach(func(k, val lua.LValue) {
		ks, ok := k.(lua.LString)
		if !ok {
			L.ArgError(n, fmt.Sprintf("option 'metadata': keys must be strings, got %s %s", k.Type(), k.String()))
		}
		vs, ok := val.(lua.LString)
		if !ok {
			L.ArgError(n, fmt.Sprintf("option 'metadata': value of %q must be a string, got %s (use tostring)", string(ks), val.Type()))
		}
		out[string(ks)] = string(vs)
	})
	for _, reserved := range []string{"quantization", "quantization_config"} {
		if _, ok := out[reserved]; ok {
			L.ArgError(n, fmt.Sprintf("option 'metadata': key %q is reserved for qscript's own record", reserved))
		}
	}
	return out
}

// savePlan writes a plan through plan.Save, with a progress bar on a terminal unless
// the run is quiet or bar is false.
func savePlan(L *lua.LState, p plan.Plan, abs string, so plan.SaveOptions, bar bool) error {
	if env := envOf(L); !env.Quiet && bar {
		bar := llm.NewBar(env.Stderr) // nil (silent) unless stderr is a terminal
		so.Progress = bar.Update
		defer bar.Finish()
	}
	return p.Save(ctxOf(L), abs, so)
}

// convert writes a loaded model unchanged in another format (safetensors or .pt).
func convert(L *lua.LState, m *LoadedModel, abs, format string, so quantize.SaveOptions) error {
	if so.Layout != quantize.LayoutCompressed {
		return fmt.Errorf("save: layout %q applies to quantized models; this model was not quantized", so.Layout)
	}
	if format == "onnx" {
		return fmt.Errorf("save %s: a loaded model converts to safetensors or .pt; ONNX output comes from static quantization", filepath.Base(abs))
	}
	if err := formats.Convert(ctxOf(L), abs, format, m.File, so.Metadata); err != nil {
		return fmt.Errorf("save %w", err)
	}
	return nil
}
