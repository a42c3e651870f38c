package bindings

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
)

// Option keys of qs.quantize and qs.config, and of their weights table.
var (
	modelOptionKeys  = []string{"activations", "include", "layer_types", "layers", "numerics", "skip", "weights"}
	weightOptionKeys = []string{"dtype", "group_size", "per_channel", "symmetric"}
	listOptions      = []string{"include", "layers", "skip"} // {} there is an empty list
)

// unknownOptionError is an option key that is not valid where it was given.
type unknownOptionError struct {
	Table      string   // "" for the top level, "weights" for a nested table
	Key        string   // the unknown key
	Suggestion string   // closest valid key, "" when none is close
	Valid      []string // every valid key, sorted
}

func (e *unknownOptionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown option %q", e.Key)
	if e.Table != "" {
		fmt.Fprintf(&b, " in %s", e.Table)
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", e.Suggestion)
	}
	fmt.Fprintf(&b, "; valid options: %s", strings.Join(e.Valid, ", "))
	return b.String()
}

// optionKeysError returns an *unknownOptionError for the first (in sorted order) of the
// given keys that is not in valid; table names the option table ("" for the top level).
func optionKeysError(table string, given []string, valid []string) error {
	for _, k := range slices.Sorted(slices.Values(given)) {
		if slices.Contains(valid, k) {
			continue
		}
		e := &unknownOptionError{Table: table, Key: k, Valid: slices.Sorted(slices.Values(valid))}
		if s := suggest.Similar(k, valid); len(s) > 0 {
			e.Suggestion = s[0]
		} else if slices.Contains(valid, "weights") && slices.Contains(weightOptionKeys, k) {
			// {dtype = "int8"} is how a tensor's quantize takes it; a model's takes
			// weights = {dtype = "int8"}.
			e.Suggestion = "weights." + k
		}
		return e
	}
	return nil
}

// mergeOptions returns the option tables merged by priority, highest first (call,
// config, ...): a key takes its value from the first table that has it; nested tables
// merge key by key the same way; lists and other values are replaced, never
// concatenated. The inputs are not modified.
func mergeOptions(tables ...map[string]any) map[string]any {
	out := map[string]any{}
	for i := len(tables) - 1; i >= 0; i-- {
		for k, v := range tables[i] {
			hi, hiOK := v.(map[string]any)
			lo, loOK := out[k].(map[string]any)
			if hiOK && loOK {
				out[k] = mergeOptions(hi, lo)
			} else if hiOK {
				out[k] = maps.Clone(hi)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// modelOptions returns quantize.DefaultOptions with qs.quantize's option table m applied
// (as goValue converts it: numbers float64, sequences []any, other tables map[string]any,
// functions layer.Matcher), and its activations table (nil when absent; planStatic reads
// it). A string or an empty table is accepted where a list is expected. Unknown keys,
// wrong value types and invalid values are errors naming the option.
func modelOptions(m map[string]any) (quantize.Options, map[string]any, error) {
	o := quantize.DefaultOptions()
	var acts map[string]any
	if err := optionKeysError("", slices.Collect(maps.Keys(m)), modelOptionKeys); err != nil {
		return o, nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if e, ok := v.(map[string]any); ok && len(e) == 0 && slices.Contains(listOptions, k) {
			v = []any{}
		}
		var err error
		switch k {
		case "weights":
			err = weightOptions(&o.Weights, v)
		case "layers":
			o.Types, err = stringsOf(k, v)
		case "skip":
			o.Skip, err = matchersOf(k, v)
		case "include":
			o.Include, err = matchersOf(k, v)
		case "layer_types":
			o.LayerTypes, err = stringMapOf(k, v)
		case "numerics":
			var s string
			if s, err = stringOf(k, v); err == nil {
				if o.Numerics, err = quant.ParseNumerics(s); err != nil {
					err = fmt.Errorf("option %q: unknown numerics %q; valid numerics: torch, onnxruntime", k, s)
				}
			}
		case "activations":
			acts, err = tableOf(k, v)
		}
		if err != nil {
			return o, nil, err
		}
	}
	return o, acts, o.Validate()
}

func weightOptions(w *quantize.WeightOptions, v any) error {
	m, err := tableOf("weights", v)
	if err != nil {
		return err
	}
	if err := optionKeysError("weights", slices.Collect(maps.Keys(m)), weightOptionKeys); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, key := m[k], "weights."+k
		switch k {
		case "dtype":
			w.DType, err = stringOf(key, v)
		case "per_channel":
			w.PerChannel, err = boolOf(key, v)
		case "symmetric":
			w.Symmetric, err = boolOf(key, v)
		case "group_size":
			w.GroupSize, err = intOf(key, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// optionTypeName names the type of a converted option value in quantize's option errors:
// as luaTypeName does, but a sequence is a list, and anything else its Go type.
func optionTypeName(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case nil, string, bool, float64, map[string]any, layer.Matcher:
		return luaTypeName(v)
	}
	return fmt.Sprintf("%T", v)
}

func typeError(key, want string, v any) error {
	return fmt.Errorf("option %q: %s expected, got %s", key, want, optionTypeName(v))
}

func stringOf(key string, v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", typeError(key, "string", v)
}

func boolOf(key string, v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return false, typeError(key, "boolean", v)
}

func intOf(key string, v any) (int, error) {
	x, ok := v.(float64)
	if !ok {
		return 0, typeError(key, "integer", v)
	}
	if x != math.Trunc(x) || math.Abs(x) >= 1<<31 {
		return 0, fmt.Errorf("option %q: integer expected, got %v", key, x)
	}
	return int(x), nil
}

func tableOf(key string, v any) (map[string]any, error) {
	if t, ok := v.(map[string]any); ok {
		return t, nil
	}
	return nil, typeError(key, "table", v)
}

func stringsOf(key string, v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, typeError(fmt.Sprintf("%s[%d]", key, i+1), "string", e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, typeError(key, "list of strings", v)
}

// matchersOf reads a skip or include list: names, globs and predicates, or one of them.
func matchersOf(key string, v any) ([]layer.Matcher, error) {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]layer.Matcher, len(list))
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out[i] = layer.Names(x)[0]
		case layer.Matcher:
			out[i] = x
		default:
			k := key
			if isList {
				k = fmt.Sprintf("%s[%d]", key, i+1)
			}
			return nil, typeError(k, "layer name, glob or function", e)
		}
	}
	return out, nil
}

func stringMapOf(key string, v any) (map[string]string, error) {
	x, ok := v.(map[string]any)
	if !ok {
		return nil, typeError(key, "table of layer name = type", v)
	}
	out := make(map[string]string, len(x))
	for k, e := range x {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("option %q: layer %q: type name expected, got %s", key, k, optionTypeName(e))
		}
		out[k] = s
	}
	return out, nil
}

// optionMap reads the options of a converted option table the way optString, optInt
// and the other opt functions read a Lua table, with the same errors.
type optionMap struct {
	L      *lua.LState
	n      int // the argument the table is
	m      map[string]any
	prefix string // how the keys are spelled in errors ("activations.")
}

// get returns the value of key (nil when absent), raising an argument error when it is
// not of Lua type want.
func (o optionMap) get(key string, want lua.LValueType) any {
	v := o.m[key]
	if v == nil {
		return nil
	}
	if got := luaTypeName(v); got != want.String() {
		o.L.ArgError(o.n, fmt.Sprintf("option '%s%s': %s expected, got %s", o.prefix, key, want, got))
	}
	return v
}

// luaOption is field key of Lua option table t as an optionMap: scalars converted as
// goValue converts them, other values kept (their Lua type names them in errors).
func luaOption(L *lua.LState, n int, t *lua.LTable, key string) optionMap {
	lv := t.RawGetString(key)
	var v any = lv
	if lv.Type() <= lua.LTString { // nil, boolean, number, string
		v, _ = modules.ToGo(lv, modules.Convert{})
	}
	return optionMap{L: L, n: n, m: map[string]any{key: v}}
}

// luaOptions is Lua option table t for calibOptions and axesAndState: batch_axis and
// state converted whole (goValue), the other values as luaOption gives them.
func luaOptions(L *lua.LState, n int, t *lua.LTable) map[string]any {
	m := map[string]any{}
	t.ForEach(func(k, v lua.LValue) {
		if key := lua.LVAsString(k); key == "batch_axis" || key == "state" {
			m[key] = goValue(L, v, nil)
		} else {
			m[key] = luaOption(L, n, t, key).m[key]
		}
	})
	return m
}

func (o optionMap) string(key, def string) string {
	if v := o.get(key, lua.LTString); v != nil {
		return v.(string)
	}
	return def
}

func (o optionMap) number(key string, def float64) float64 {
	if v := o.get(key, lua.LTNumber); v != nil {
		return v.(float64)
	}
	return def
}

func (o optionMap) int(key string, def int) int {
	v := o.get(key, lua.LTNumber)
	if v == nil {
		return def
	}
	f := v.(float64)
	if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		o.L.ArgError(o.n, fmt.Sprintf("option '%s%s': integer expected, got %v", o.prefix, key, f))
	}
	return int(f)
}

func (o optionMap) bool(key string, def bool) bool {
	if v := o.get(key, lua.LTBool); v != nil {
		return v.(bool)
	}
	return def
}

// choice returns a string option that must be one of choices, as optChoice does.
func (o optionMap) choice(key, def string, choices []string) string {
	s := o.string(key, def)
	if !slices.Contains(choices, s) {
		o.L.ArgError(o.n, fmt.Sprintf("option '%s%s': unknown value %q%s; valid values: %s", o.prefix, key, s, suggest.DidYouMean(s, choices), strings.Join(choices, ", ")))
	}
	return s
}

// luaTypeName is the Lua type of a value goValue converted.
func luaTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case map[string]any, []any:
		return "table"
	case layer.Matcher:
		return "function"
	case lua.LValue:
		return x.Type().String()
	}
	return "userdata"
}
