package bindings

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/tensor"
)

// DataTypeName is the metatable name of data sources; their Value is a *Data.
const DataTypeName = "qs.Data"

// Data is a calibration or evaluation data set made from Lua. Key names its content for
// caches (file identities and the options that shape the samples); it is empty for data
// built in memory, which is never cached.
type Data struct {
	data.Source
	Key string
}

// DataModule is `require "qs.data"`, also reachable as qs.data.
var DataModule modules.Module = apiModule("qs.data", dataAPI, registerTensorType, registerDataType)

// PreloadData makes the data module available to a bare Lua state:
//
//	local datasets = require "qs.data"
//	local calib = datasets.npy("examples/models/calib.npy")
func PreloadData(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.data", DataModule.Loader(env))
}

var dataAPI = map[string]lua.LGFunction{
	"npy":         dataFile("npy", data.NPY),
	"npz":         dataFile("npz", data.NPZ),
	"safetensors": dataFile("safetensors", data.Safetensors),
	"images":      dataImages,
	"folder":      dataFolder,
	"tensors":     dataTensors,
}

var dataMethods map[string]lua.LGFunction

func init() {
	dataMethods = map[string]lua.LGFunction{
		"len":    dataLen,
		"inputs": dataInputs,
		"limit":  dataLimit,
		"take":   dataTake,
	}
}

func registerDataType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), DataTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(DataTypeName)
	methods := L.SetFuncs(L.NewTable(), dataMethods)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		d := CheckData(L, 1)
		switch key := L.CheckString(2); key {
		case "name":
			L.Push(lua.LString(d.Name()))
		case "has_target":
			L.Push(lua.LBool(d.HasTarget()))
		default:
			L.Push(methods.RawGetString(key))
		}
		return 1
	}))
	mt.RawSetString("__len", L.NewFunction(dataLen))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		d := CheckData(L, 1)
		var parts []string
		for _, in := range d.Inputs() {
			name := in.Name
			if name == "" {
				name = "input"
			}
			parts = append(parts, fmt.Sprintf("%s %s%s", name, in.DType, data.ShapeString(in.Shape)))
		}
		n := "unknown"
		if d.Len() >= 0 {
			n = fmt.Sprint(d.Len())
		}
		target := ""
		if d.HasTarget() {
			target = ", with targets"
		}
		L.Push(lua.LString(fmt.Sprintf("data(%s: %s samples of %s%s)", d.Name(), n, strings.Join(parts, ", "), target)))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(DataTypeName))
}

// CheckData returns the data source at argument n.
func CheckData(L *lua.LState, n int) *Data {
	return checkUserData[*Data](L, n, DataTypeName)
}

// LVData wraps d as a Lua value of type qs.Data.
func LVData(L *lua.LState, d *Data) lua.LValue {
	return newUserData(L, registerDataType, DataTypeName, d)
}

// fileKey names the current version of a file for cache keys.
func fileKey(L *lua.LState, abs string) string {
	if c := envOf(L).Cache; c != nil {
		if k, err := c.FileKey(abs); err == nil {
			return k
		}
	}
	return ""
}

// cached loads a value through the host's cache under prefix+key, or directly when key
// is "" (a file or data whose version cannot be named).
func cached(L *lua.LState, prefix, key string, load func() (any, error)) (any, error) {
	if key == "" {
		return load()
	}
	return envOf(L).Cache.Value(prefix+key, load)
}

// checkExisting resolves a path and raises "no such file" naming it as the recipe gave it.
func checkExisting(L *lua.LState, n int, path string) string {
	abs := resolve(L, n, path)
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		L.ArgError(n, "no such file: "+path)
	} else if err != nil {
		L.ArgError(n, err.Error())
	}
	addInputs(L, abs)
	return abs
}

// dataFile makes qs.data.npy, npz and safetensors: (path [, {input=, label=, batch=}]).
func dataFile(kind string, open func(string) (data.Source, error)) lua.LGFunction {
	return func(L *lua.LState) int {
		path := L.CheckString(1)
		keys := []string{"batch"}
		if kind != "npy" {
			keys = append(keys, "input", "label")
		}
		opts := checkOptions(L, 2, keys)
		abs := checkExisting(L, 1, path)
		src, err := open(abs)
		if err != nil {
			raise(L, err)
		}
		input := optString(L, 2, opts, "input", "")
		label := optString(L, 2, opts, "label", "")
		key := kind + ":" + fileKey(L, abs)
		if input != "" || label != "" {
			if src, err = selectArrays(src, input, label); err != nil {
				L.ArgError(2, err.Error())
			}
			key += fmt.Sprintf(":input=%q:label=%q", input, label)
		}
		L.Push(LVData(L, batched(L, 2, opts, &Data{Source: src, Key: key})))
		return 1
	}
}

// qs.data.folder(dir [, {input=, label=, batch=}]): one sample per .npy or .npz file
// (data.Folder). Not cached: a folder's identity does not change with its files.
func dataFolder(L *lua.LState) int {
	path := L.CheckString(1)
	opts := checkOptions(L, 2, []string{"batch", "input", "label"})
	src, err := data.Folder(checkExisting(L, 1, path))
	if err != nil {
		raise(L, err)
	}
	input, label := optString(L, 2, opts, "input", ""), optString(L, 2, opts, "label", "")
	if input != "" || label != "" {
		if src, err = selectArrays(src, input, label); err != nil {
			L.ArgError(2, err.Error())
		}
	}
	L.Push(LVData(L, batched(L, 2, opts, &Data{Source: src})))
	return 1
}

// batched applies the batch option.
func batched(L *lua.LState, n int, opts *lua.LTable, d *Data) *Data {
	b := optInt(L, n, opts, "batch", 0)
	if b == 0 {
		return d
	}
	src, err := data.Batched(d.Source, b)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return &Data{Source: src, Key: d.Key + fmt.Sprintf(":batch=%d", b)}
}

// qs.data.images(dir, {size=, crop=, mean=, std=, layout="NCHW", gray=false, batch=})
func dataImages(L *lua.LState) int {
	dir := L.CheckString(1)
	opts := checkOptions(L, 2, []string{"batch", "crop", "gray", "layout", "mean", "size", "std"})
	abs := checkExisting(L, 1, dir)
	o := data.ImageOptions{
		Size:   optInt(L, 2, opts, "size", 0),
		Crop:   optInt(L, 2, opts, "crop", 0),
		Mean:   optFloats(L, 2, opts, "mean"),
		Std:    optFloats(L, 2, opts, "std"),
		Layout: optChoice(L, 2, opts, "layout", "NCHW", []string{"NCHW", "NHWC"}),
		Gray:   optBool(L, 2, opts, "gray", false),
	}
	if o.Size <= 0 {
		L.ArgError(2, "option 'size' (the length the shorter side is resized to) is required and must be positive")
	}
	src, err := data.Images(abs, o)
	if err != nil {
		raise(L, err)
	}
	if lister, ok := src.(interface{ Files() []string }); ok {
		confineFiles(L, 1, lister.Files())
	}
	key := fmt.Sprintf("images:%s:%+v", fileKey(L, abs), o)
	L.Push(LVData(L, batched(L, 2, opts, &Data{Source: src, Key: key})))
	return 1
}

// optFloats reads a number or a list of numbers.
func optFloats(L *lua.LState, n int, t *lua.LTable, key string) []float32 {
	switch v := t.RawGetString(key).(type) {
	case *lua.LNilType:
		return nil
	case lua.LNumber:
		return []float32{float32(v)}
	case *lua.LTable:
		out := make([]float32, 0, v.Len())
		for i := 1; i <= v.Len(); i++ {
			x, ok := v.RawGetInt(i).(lua.LNumber)
			if !ok {
				L.ArgError(n, fmt.Sprintf("option '%s'[%d]: number expected, got %s", key, i, v.RawGetInt(i).Type()))
			}
			out = append(out, float32(x))
		}
		return out
	default:
		L.ArgError(n, fmt.Sprintf("option '%s': number or list of numbers expected, got %s", key, v.Type()))
	}
	return nil
}

// qs.data.tensors(inputs [, {target=}]): data held in tensors whose first axis is the
// sample axis; inputs is a tensor (a model's only input) or a table of input name =
// tensor.
func dataTensors(L *lua.LState) int {
	opts := checkOptions(L, 2, []string{"batch", "target"})
	var target *tensor.Tensor
	if opts.RawGetString("target") != lua.LNil {
		L.Push(opts.RawGetString("target"))
		target = CheckTensor(L, L.GetTop())
		L.Pop(1)
	}
	src, err := sourceOf(L, 1, L.Get(1), target)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(LVData(L, batched(L, 2, opts, &Data{Source: src})))
	return 1
}

// sourceOf turns a Lua value into a data source: a qs.Data, a tensor (first axis =
// samples), a table of input name = tensor, or a list of per-sample tensors.
func sourceOf(L *lua.LState, n int, v lua.LValue, target *tensor.Tensor) (data.Source, error) {
	switch x := v.(type) {
	case *lua.LUserData:
		switch val := x.Value.(type) {
		case *Data:
			return val.Source, nil
		case *tensor.Tensor:
			return data.Tensors(map[string]*tensor.Tensor{"": val}, target)
		}
	case *lua.LTable:
		if x.Len() > 0 {
			samples := make([]data.Sample, 0, x.Len())
			for i := 1; i <= x.Len(); i++ {
				t := tensorValue(x.RawGetInt(i))
				if t == nil {
					return nil, fmt.Errorf("sample %d: %s expected, got %s", i, TensorTypeName, typeOf(x.RawGetInt(i)))
				}
				samples = append(samples, data.Sample{Inputs: map[string]*tensor.Tensor{"": t}})
			}
			if target != nil {
				return nil, fmt.Errorf("a target goes with tensors whose first axis is the sample axis, not with a list of samples")
			}
			return data.Samples(samples)
		}
		inputs := map[string]*tensor.Tensor{}
		var bad error
		x.ForEach(func(k, val lua.LValue) {
			t := tensorValue(val)
			if t == nil && bad == nil {
				bad = fmt.Errorf("input %s: %s expected, got %s", k.String(), TensorTypeName, typeOf(val))
			}
			inputs[modules.KeyText(k)] = t
		})
		if bad != nil {
			return nil, bad
		}
		if len(inputs) == 0 {
			return nil, fmt.Errorf("no tensors given")
		}
		return data.Tensors(inputs, target)
	}
	return nil, fmt.Errorf("data expected (qs.data.npy(...), a tensor, or a table of tensors), got %s", typeOf(v))
}

func dataLen(L *lua.LState) int {
	L.Push(lua.LNumber(CheckData(L, 1).Len()))
	return 1
}

func dataInputs(L *lua.LState) int {
	L.Push(tensorInfoList(L, CheckData(L, 1).Inputs()))
	return 1
}

// d:limit(n): the first n samples.
func dataLimit(L *lua.LState) int {
	d := CheckData(L, 1)
	n := L.CheckInt(2)
	if n < 0 {
		L.ArgError(2, "sample count must not be negative")
	}
	key := ""
	if d.Key != "" {
		key = d.Key + fmt.Sprintf(":limit=%d", n)
	}
	L.Push(LVData(L, &Data{Source: data.Limit(d.Source, n), Key: key}))
	return 1
}

// d:take(n): reads the first n samples (at most) as tensors with the sample axis first:
// the input (a tensor for a source with one input, else a table of input name = tensor)
// and the target (nil when the source has none).
func dataTake(L *lua.LState) int {
	d := CheckData(L, 1)
	n := L.CheckInt(2)
	if n < 1 {
		L.ArgError(2, "sample count must be positive")
	}
	r, err := d.Open(ctxOf(L))
	if err != nil {
		raise(L, err)
	}
	defer r.Close()
	b, err := r.Next(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			L.RaiseError("take: %s has no samples", d.Name())
		}
		raise(L, err)
	}
	if len(b.Inputs) == 1 {
		for _, t := range b.Inputs {
			L.Push(LVTensor(L, t))
		}
	} else {
		tbl := L.NewTable()
		for _, name := range slices.Sorted(maps.Keys(b.Inputs)) {
			tbl.RawSetString(name, LVTensor(L, b.Inputs[name]))
		}
		L.Push(tbl)
	}
	if b.Target != nil {
		L.Push(LVTensor(L, b.Target))
	} else {
		L.Push(lua.LNil)
	}
	return 2
}

// selectArrays keeps one named array of a multi-array source as the input, and makes
// another the target (data.Select); an unknown name suggests the closest arrays.
func selectArrays(src data.Source, input, label string) (data.Source, error) {
	sel, err := data.Select(src, input, label)
	var unknown *data.UnknownArrayError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("%s", unknownNameMessage("array", unknown.Name, unknown.Arrays, "arrays: "+strings.Join(unknown.Arrays, ", ")))
	}
	return sel, err
}
