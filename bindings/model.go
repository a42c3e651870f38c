package bindings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// ModelTypeName is the metatable name of loaded models; their Value is a *LoadedModel.
const ModelTypeName = "qs.Model"

// LoadedModel is a checkpoint loaded by qs.load: the opened file (shared through the host's
// cache by every run that loads the same unchanged file, so never closed by a run) and
// the layer types the recipe overrode.
type LoadedModel struct {
	Path  string // as the recipe gave it
	File  *formats.File
	Types map[string]string // layer name -> type, from qs.load's types option
}

// Layers lists the model's layers with the recipe's type overrides applied.
func (m *LoadedModel) Layers() ([]layer.Layer, error) {
	return layer.List(m.File, m.Types)
}

// ModelModule is `require "qs.model"`: qs.load.
var ModelModule modules.Module = apiModule("qs.model", modelAPI, registerTensorType, registerModelType)

// PreloadModel makes the model module available to a bare Lua state:
//
//	local qs = require "qs.model"
//	local m = qs.load("examples/models/digits_cnn.pt")
func PreloadModel(L *lua.LState, env *modules.Env) {
	L.PreloadModule("qs.model", ModelModule.Loader(env))
}

var modelAPI = map[string]lua.LGFunction{
	"load": load,
}

var modelMethods = map[string]lua.LGFunction{
	"tensors":  modelTensors,
	"get":      modelGet,
	"layers":   modelLayers,
	"shortcut": modelShortcut,
	"info":     modelInfo,
}

func registerModelType(L *lua.LState) {
	if _, ok := L.GetField(L.Get(lua.RegistryIndex), ModelTypeName).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(ModelTypeName)
	methods := L.SetFuncs(L.NewTable(), modelMethods)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		m := CheckModel(L, 1)
		switch key := L.CheckString(2); key {
		case "path":
			L.Push(lua.LString(m.Path))
		case "format":
			L.Push(lua.LString(m.File.Format))
		default:
			L.Push(methods.RawGetString(key))
		}
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		m := CheckModel(L, 1)
		L.Push(lua.LString(fmt.Sprintf("model(%s, %s, %d tensors)", m.Path, m.File.Format, len(m.File.Tensors()))))
		return 1
	}))
	mt.RawSetString("__name", lua.LString(ModelTypeName))
}

// CheckModel returns the loaded model at argument n.
func CheckModel(L *lua.LState, n int) *LoadedModel {
	return checkUserData[*LoadedModel](L, n, ModelTypeName)
}

// LVModel wraps m as a Lua value of type qs.Model.
func LVModel(L *lua.LState, m *LoadedModel) lua.LValue {
	return newUserData(L, registerModelType, ModelTypeName, m)
}

// openCached opens a checkpoint through the host's cache, so that watch-mode reruns and
// repeated loads of an unchanged file share one reader. Argument n is blamed for errors.
func openCached(L *lua.LState, n int, path string) *formats.File {
	abs := resolve(L, n, path)
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			L.ArgError(n, fmt.Sprintf("no such file: %s", path))
		}
		raise(L, err)
	}
	v, err := envOf(L).Cache.File(abs, "model", func() (any, error) {
		return formats.Open(abs)
	})
	if err != nil {
		raise(L, err)
	}
	f := v.(*formats.File)
	files := modelFiles(f)
	confineFiles(L, n, files)
	addInputs(L, files...)
	return f
}

// qs.load(path [, {types = {layer = "Linear"}}]): opens a checkpoint (.safetensors,
// .safetensors.index.json, .pt/.pth/.bin, .onnx, .npz, .npy) without reading its data.
func load(L *lua.LState) int {
	path := L.CheckString(1)
	opts := checkOptions(L, 2, []string{"types"})
	var types map[string]string
	if v := optField(L, 2, opts, "types", lua.LTTable); v != lua.LNil {
		types = map[string]string{}
		v.(*lua.LTable).ForEach(func(k, t lua.LValue) {
			ks, kok := k.(lua.LString)
			ts, tok := t.(lua.LString)
			if !kok || !tok {
				L.ArgError(2, fmt.Sprintf("option 'types': layer name = type expected, got %s = %s", k.Type(), t.Type()))
			}
			types[string(ks)] = string(ts)
		})
	}
	m := &LoadedModel{Path: path, File: foldedONNX(L, openCached(L, 1, path)), Types: types}
	if len(types) > 0 {
		if _, err := m.Layers(); err != nil {
			L.ArgError(2, "option 'types': "+err.Error())
		}
	}
	L.Push(LVModel(L, m))
	return 1
}

// tensorInfoList is a list of {name=, dtype=, shape=}.
func tensorInfoList(L *lua.LState, infos []tensor.Info) *lua.LTable {
	out := L.CreateTable(len(infos), 0)
	for _, info := range infos {
		t := L.CreateTable(0, 3)
		t.RawSetString("name", lua.LString(info.Name))
		t.RawSetString("dtype", lua.LString(info.DType.String()))
		t.RawSetString("shape", numberList(L, info.Shape))
		out.Append(t)
	}
	return out
}

func modelTensors(L *lua.LState) int {
	L.Push(tensorInfoList(L, CheckModel(L, 1).File.Tensors()))
	return 1
}

// m:get(name): loads one tensor. An unknown name lists the similar ones.
func modelGet(L *lua.LState) int {
	m := CheckModel(L, 1)
	name := L.CheckString(2)
	infos := m.File.Tensors()
	if !slices.ContainsFunc(infos, func(i tensor.Info) bool { return i.Name == name }) {
		names := make([]string, len(infos))
		for i, info := range infos {
			names[i] = info.Name
		}
		L.ArgError(2, unknownNameMessage("tensor", name, names, "run `qscript inspect "+m.Path+"` to list them"))
	}
	t, err := m.File.Load(name)
	if err != nil {
		raise(L, err)
	}
	L.Push(LVTensor(L, t))
	return 1
}

// unknownNameMessage says that name is not among names, with the closest ones.
func unknownNameMessage(what, name string, names []string, hint string) string {
	msg := fmt.Sprintf("no %s named %q", what, name)
	if sim := suggest.Similar(name, names); len(sim) > 0 { // at most five
		return msg + fmt.Sprintf(" (similar: %s)", strings.Join(sim, ", "))
	}
	return msg + "; " + hint
}

// layerTable is the Lua form of a layer: {name, type, weight, bias, shape, dtype, index}.
// index counts from 1 in model order.
func layerTable(L *lua.LState, l layer.Layer) *lua.LTable {
	t := L.CreateTable(0, 7)
	t.RawSetString("name", lua.LString(l.Name))
	t.RawSetString("type", lua.LString(l.Type))
	t.RawSetString("weight", lua.LString(l.Weight))
	if l.Bias != "" {
		t.RawSetString("bias", lua.LString(l.Bias))
	}
	t.RawSetString("shape", numberList(L, l.Shape))
	t.RawSetString("dtype", lua.LString(l.DType.String()))
	t.RawSetString("index", lua.LNumber(l.Index+1))
	return t
}

// m:layers([type]): the layers in model order, optionally only those of a type ("Conv"
// takes Conv1d/2d/3d, "Linear" takes ONNX Gemm and MatMul).
func modelLayers(L *lua.LState) int {
	m := CheckModel(L, 1)
	layers, err := m.Layers()
	if err != nil {
		raise(L, err)
	}
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		typ := L.CheckString(2)
		if _, err := layer.CheckType(typ); err != nil {
			L.ArgError(2, err.Error())
		}

		layers = layer.OfType(layers, typ)
	}
	out := L.CreateTable(len(layers), 0)
	for _, l := range layers {
		out.Append(layerTable(L, l))
	}
	L.Push(out)
	return 1
}

// m:shortcut(name): the layer first_conv, last_conv, first_linear or last_linear stands
// for; nil for another name; nil and a message when the model has no layer of the type.
func modelShortcut(L *lua.LState) int {
	m := CheckModel(L, 1)
	layers, err := m.Layers()
	if err != nil {
		raise(L, err)
	}
	l, ok, err := layer.Shortcut(layers, L.CheckString(2))
	switch {
	case err != nil:
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	case !ok:
		L.Push(lua.LNil)
		return 1
	}
	L.Push(layerTable(L, l))
	return 1
}

// m:info(): path, format, tensor count, bytes, totals by dtype, layer count, metadata.
func modelInfo(L *lua.LState) int {
	m := CheckModel(L, 1)
	s := formats.Summarize(m.File)
	t := L.NewTable()
	t.RawSetString("path", lua.LString(m.Path))
	t.RawSetString("format", lua.LString(s.Format))
	t.RawSetString("tensors", lua.LNumber(s.TotalTensors))
	t.RawSetString("bytes", lua.LNumber(s.TotalBytes))
	dtypes := L.NewTable()
	for _, d := range s.Totals {
		dtypes.RawSetString(d.DType, lua.LNumber(d.Tensors))
	}
	t.RawSetString("dtypes", dtypes)
	t.RawSetString("metadata", stringMap(L, s.Metadata))
	if layers, err := m.Layers(); err == nil {
		t.RawSetString("layers", lua.LNumber(len(layers)))
	}
	if len(s.Quantization) > 0 {
		t.RawSetString("quantization", lua.LString(s.Quantization))
	}
	if len(s.QuantizationConfig) > 0 {
		t.RawSetString("quantization_config", lua.LString(s.QuantizationConfig))
	}
	L.Push(t)
	return 1
}
