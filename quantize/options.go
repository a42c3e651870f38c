package quantize

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/quant"
)

// Weight dtypes (WeightOptions.DType).
const (
	DTypeInt8    = "int8"
	DTypeUInt8   = "uint8"
	DTypeInt4    = "int4"
	DTypeUInt4   = "uint4"
	DTypeFP16    = "fp16"
	DTypeBF16    = "bf16"
	DTypeFP8E4M3 = "fp8_e4m3"
	DTypeFP8E5M2 = "fp8_e5m2"
)

// WeightDTypes lists the accepted WeightOptions.DType values.
var WeightDTypes = []string{DTypeInt8, DTypeUInt8, DTypeInt4, DTypeUInt4, DTypeFP16, DTypeBF16, DTypeFP8E4M3, DTypeFP8E5M2}

// Options is everything Quantize needs. Start from DefaultOptions; ParseOptions and Apply
// fill it from option tables (the Lua bindings' path), with the same names in snake_case.
type Options struct {
	// Weights says how the selected weights are quantized (option key "weights").
	Weights WeightOptions
	// Selection says which layers are quantized: option keys "layers" (Types), "include"
	// and "skip".
	Selection
	// LayerTypes overrides inferred layer types by layer name (option key "layer_types").
	LayerTypes map[string]string
	// Numerics selects torch's (default) or ONNX Runtime's arithmetic ("numerics":
	// "torch" | "onnxruntime").
	Numerics quant.Numerics
	// Activations holds the "activations" option table as given, uninterpreted: static
	// quantization (the calibration package) reads it. Weight-only quantization ignores it.
	Activations map[string]any
	// Version is the qscript version written into the "quantization" record ("dev" when
	// empty). It is set by the host, not by an option key.
	Version string
}

// WeightOptions configures weight quantization.
type WeightOptions struct {
	// DType is one of WeightDTypes (default "int8"). fp16 and bf16 cast every floating
	// tensor, integer tensors untouched (SPEC §4): Selection.Types does not apply to
	// casts, but Skip and Include still keep chosen layers' weight and bias in their
	// dtype. fp8 stores the selected weights as fp8 with a scale (absmax/448 for e4m3,
	// absmax/57344 for e5m2, as compressed-tensors' float-quantized); other tensors are
	// unchanged. The integer dtypes quantize the selected weights; uint8 and uint4 codes
	// and zero points are stored shifted to int8 (q-128, q-8), the compressed-tensors
	// convention, which dequantizes to the same values.
	DType string
	// PerChannel gives one scale per output channel (default true); false gives one per
	// tensor. Used by the 8-bit integer and fp8 dtypes, and by int4/uint4 when GroupSize
	// is -1.
	PerChannel bool
	// Symmetric selects symmetric qparams (default true); false is affine.
	Symmetric bool
	// GroupSize > 0 quantizes per group of that many input elements. 0 means the dtype's
	// default: 128 (quant.DefaultGroupSize) for int4/uint4, none for 8 bits. -1 turns
	// groups off for int4/uint4.
	GroupSize int
}

// DefaultOptions returns int8 per-channel symmetric weights for Linear and Conv layers,
// with torch numerics.
func DefaultOptions() Options {
	return Options{
		Weights:   WeightOptions{DType: DTypeInt8, PerChannel: true, Symmetric: true},
		Selection: Selection{Types: DefaultTypes()},
		Numerics:  quant.Torch,
	}
}

// Option keys, for CheckKeys and for the bindings' documentation.
var (
	OptionKeys       = []string{"activations", "include", "layer_types", "layers", "numerics", "skip", "weights"}
	WeightOptionKeys = []string{"dtype", "group_size", "per_channel", "symmetric"}
)

// UnknownOptionError is an option key that is not valid where it was given.
type UnknownOptionError struct {
	Table      string   // "" for the top level, "weights" for a nested table
	Key        string   // the unknown key
	Suggestion string   // closest valid key, "" when none is close
	Valid      []string // every valid key, sorted
}

func (e *UnknownOptionError) Error() string {
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

// CheckKeys returns an *UnknownOptionError for the first (in sorted order) of the given
// keys that is not in valid. table names the option table in the message ("" for the
// top level). The bindings use it for every option table they accept.
func CheckKeys(table string, given []string, valid []string) error {
	given = slices.Sorted(slices.Values(given))
	for _, k := range given {
		if slices.Contains(valid, k) {
			continue
		}
		e := &UnknownOptionError{Table: table, Key: k, Valid: slices.Sorted(slices.Values(valid))}
		if s := Similar(k, valid); len(s) > 0 {
			e.Suggestion = s[0]
		} else if slices.Contains(valid, "weights") && slices.Contains(WeightOptionKeys, k) {
			// {dtype = "int8"} is how a tensor's quantize takes it; a model's takes
			// weights = {dtype = "int8"}.
			e.Suggestion = "weights." + k
		}
		return e
	}
	return nil
}

// MergeOptionMaps returns the option tables merged by priority, highest first
// (call, config, ...): a key takes its value from the first table that has it; nested
// tables (map[string]any) merge key by key the same way; lists and other values are
// replaced, never concatenated. The inputs are not modified.
func MergeOptionMaps(tables ...map[string]any) map[string]any {
	out := map[string]any{}
	for i := len(tables) - 1; i >= 0; i-- {
		for k, v := range tables[i] {
			hi, hiOK := v.(map[string]any)
			lo, loOK := out[k].(map[string]any)
			if hiOK && loOK {
				out[k] = MergeOptionMaps(hi, lo)
			} else if hiOK {
				out[k] = maps.Clone(hi)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// ParseOptions returns DefaultOptions with the option table m applied (see Apply).
func ParseOptions(m map[string]any) (Options, error) {
	o := DefaultOptions()
	if err := o.Apply(m); err != nil {
		return Options{}, err
	}
	return o, nil
}

// Apply overlays the keys present in option table m onto o; absent keys keep their
// values, so applying the config table and then the call's table gives the priority
// call > config > defaults. Keys are those of OptionKeys and, under "weights",
// WeightOptionKeys. Values:
//
//	weights     = {dtype = "int8", per_channel = true, symmetric = true, group_size = 128}
//	layers      = {"Linear", "Conv"}              -- []string or []any of strings
//	skip        = {"conv1", "encoder.*", f}       -- names, globs, Matcher or func(Layer) bool
//	include     = {...}                           -- like skip
//	layer_types = {["emb.proj"] = "Linear"}       -- map[string]string or map[string]any
//	numerics    = "torch" | "onnxruntime"
//	activations = {...}                           -- kept as given (static quantization)
//
// A single string is accepted where a list is expected. Unknown keys, wrong value types
// and invalid values are errors naming the option; o is then left unchanged.
func (o *Options) Apply(m map[string]any) error {
	n := *o
	n.LayerTypes = maps.Clone(o.LayerTypes)
	if err := CheckKeys("", slices.Collect(maps.Keys(m)), OptionKeys); err != nil {
		return err
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		var err error
		switch k {
		case "weights":
			var t map[string]any
			if t, err = tableOf(k, v); err == nil {
				err = n.Weights.apply(t)
			}
		case "layers":
			n.Types, err = stringsOf(k, v)
		case "skip":
			n.Skip, err = matchersOf(k, v)
		case "include":
			n.Include, err = matchersOf(k, v)
		case "layer_types":
			n.LayerTypes, err = stringMapOf(k, v)
		case "numerics":
			var s string
			if s, err = stringOf(k, v); err == nil {
				if n.Numerics, err = quant.ParseNumerics(s); err != nil {
					err = fmt.Errorf("option %q: unknown numerics %q; valid numerics: torch, onnxruntime", k, s)
				}
			}
		case "activations":
			n.Activations, err = tableOf(k, v)
		}
		if err != nil {
			return err
		}
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*o = n
	return nil
}

func (w *WeightOptions) apply(m map[string]any) error {
	if err := CheckKeys("weights", slices.Collect(maps.Keys(m)), WeightOptionKeys); err != nil {
		return err
	}
	for _, k := range sortedKeys(m) {
		v, key := m[k], "weights."+k
		var err error
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

// Validate checks the options that do not depend on a model.
func (o Options) Validate() error {
	w := o.Weights
	if !slices.Contains(WeightDTypes, w.DType) {
		return fmt.Errorf("option \"weights.dtype\": unknown dtype %q%s; valid dtypes: %s",
			w.DType, didYouMean(w.DType, WeightDTypes), strings.Join(WeightDTypes, ", "))
	}
	if w.GroupSize < -1 {
		return fmt.Errorf("option \"weights.group_size\": %d; want a positive size, 0 (default) or -1 (no groups)", w.GroupSize)
	}
	if w.GroupSize > 0 && isFloatDType(w.DType) {
		return fmt.Errorf("option \"weights.group_size\": dtype %s has no groups (it is per tensor or per channel)", w.DType)
	}
	if o.Numerics != quant.Torch && o.Numerics != quant.ORT {
		return fmt.Errorf("option \"numerics\": unknown numerics %d", int(o.Numerics))
	}
	for _, t := range o.Types {
		if _, ok := canonicalType(t); !ok {
			return fmt.Errorf("option \"layers\": unknown layer type %q%s; valid types: %s",
				t, didYouMean(t, LayerTypes), strings.Join(LayerTypes, ", "))
		}
	}
	for name, t := range o.LayerTypes {
		if _, ok := canonicalType(t); !ok {
			return fmt.Errorf("option \"layer_types\": layer %q: unknown layer type %q%s; valid types: %s",
				name, t, didYouMean(t, LayerTypes), strings.Join(LayerTypes, ", "))
		}
	}
	return nil
}

func isFloatDType(dt string) bool {
	return dt == DTypeFP16 || dt == DTypeBF16 || dt == DTypeFP8E4M3 || dt == DTypeFP8E5M2
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, float64:
		return "number"
	case map[string]any, map[string]string:
		return "table"
	case []any, []string:
		return "list"
	case func(Layer) bool, Matcher:
		return "function"
	}
	return fmt.Sprintf("%T", v)
}

func typeError(key, want string, v any) error {
	return fmt.Errorf("option %q: %s expected, got %s", key, want, typeName(v))
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
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		if x == int64(int(x)) {
			return int(x), nil
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<31 {
			return int(x), nil
		}
		return 0, fmt.Errorf("option %q: integer expected, got %v", key, x)
	}
	return 0, typeError(key, "integer", v)
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
	case []string:
		return slices.Clone(x), nil
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

func matchersOf(key string, v any) ([]Matcher, error) {
	one := func(i int, e any) (Matcher, error) {
		switch x := e.(type) {
		case string:
			return Matcher{Pattern: x}, nil
		case Matcher:
			return x, nil
		case func(Layer) bool:
			return Matcher{Func: x}, nil
		}
		k := key
		if i > 0 {
			k = fmt.Sprintf("%s[%d]", key, i)
		}
		return Matcher{}, typeError(k, "layer name, glob or function", e)
	}
	switch x := v.(type) {
	case []string:
		return Names(x...), nil
	case []Matcher:
		return slices.Clone(x), nil
	case []any:
		out := make([]Matcher, len(x))
		for i, e := range x {
			m, err := one(i+1, e)
			if err != nil {
				return nil, err
			}
			out[i] = m
		}
		return out, nil
	}
	m, err := one(0, v)
	if err != nil {
		return nil, err
	}
	return []Matcher{m}, nil
}

func stringMapOf(key string, v any) (map[string]string, error) {
	switch x := v.(type) {
	case map[string]string:
		return maps.Clone(x), nil
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("option %q: layer %q: type name expected, got %s", key, k, typeName(e))
			}
			out[k] = s
		}
		return out, nil
	}
	return nil, typeError(key, "table of layer name = type", v)
}
