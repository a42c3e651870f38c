package torch

import (
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// globalKind says what an allowlisted global does when the pickle calls it.
type globalKind int

const (
	globalOrderedDict globalKind = iota
	globalRebuildTensor
	globalRebuildParameter
	globalRebuildParameterWithState
	globalStorageType
)

// pyGlobal is an allowlisted global. Calling it builds a plain Go value; nothing runs.
type pyGlobal struct {
	module, name string
	kind         globalKind
	dtype        tensor.DType // for storage types
}

// storageTypes maps torch's typed storage classes, which name the element type of the
// storages in persistent ids, to dtypes.
var storageTypes = map[string]tensor.DType{
	"DoubleStorage":   tensor.F64,
	"FloatStorage":    tensor.F32,
	"HalfStorage":     tensor.F16,
	"BFloat16Storage": tensor.BF16,
	"LongStorage":     tensor.I64,
	"IntStorage":      tensor.I32,
	"ShortStorage":    tensor.I16,
	"CharStorage":     tensor.I8,
	"ByteStorage":     tensor.U8,
	"BoolStorage":     tensor.Bool,
}

// allowedGlobals is the whole allowlist: the subset of torch.load(weights_only=True)'s
// that plain checkpoints of dense CPU/GPU tensors need.
var allowedGlobals = func() map[string]*pyGlobal {
	m := map[string]*pyGlobal{}
	add := func(module, name string, kind globalKind, dt tensor.DType) {
		m[module+"."+name] = &pyGlobal{module: module, name: name, kind: kind, dtype: dt}
	}
	add("collections", "OrderedDict", globalOrderedDict, tensor.Invalid)
	add("torch._utils", "_rebuild_tensor_v2", globalRebuildTensor, tensor.Invalid)
	add("torch._utils", "_rebuild_parameter", globalRebuildParameter, tensor.Invalid)
	add("torch._utils", "_rebuild_parameter_with_state", globalRebuildParameterWithState, tensor.Invalid)
	for name, dt := range storageTypes {
		add("torch", name, globalStorageType, dt)
	}
	return m
}()

// storageRef is a persistent id ('storage', storage_type, key, location, numel): the
// storage's bytes are the archive entry data/<key>.
type storageRef struct {
	dtype    tensor.DType
	key      string
	location string
	numel    int64
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it, in elements of its storage.
type tensorRef struct {
	storage *storageRef
	offset  int64
	shape   []int64
	stride  []int64
}

func (g *pyGlobal) call(args pyTuple) (any, error) {
	switch g.kind {
	case globalOrderedDict:
		return newOrderedDict(args)
	case globalRebuildTensor:
		return rebuildTensor(args)
	case globalRebuildParameter, globalRebuildParameterWithState:
		// _rebuild_parameter(data, requires_grad, backward_hooks[, state]): the weights are data.
		want := 3
		if g.kind == globalRebuildParameterWithState {
			want = 4
		}
		if len(args) != want {
			return nil, fmt.Errorf("takes %d arguments, got %d", want, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("data is %s, not a tensor", typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("storage types are not callable here")
}

func newOrderedDict(args pyTuple) (any, error) {
	d := &pyDict{}
	if len(args) == 0 {
		return d, nil
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("takes at most 1 argument, got %d", len(args))
	}
	var pairs []any
	switch a := args[0].(type) {
	case *pyList:
		pairs = a.items
	case pyTuple:
		pairs = a
	case *pyDict:
		for i := range a.keys {
			if err := d.set(a.keys[i], a.values[i]); err != nil {
				return nil, err
			}
		}
		return d, nil
	default:
		return nil, fmt.Errorf("cannot build from %s", typeName(args[0]))
	}
	for _, p := range pairs {
		kv, ok := p.(pyTuple)
		if !ok || len(kv) != 2 {
			return nil, fmt.Errorf("items must be (key, value) pairs")
		}
		if err := d.set(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// rebuildTensor mirrors torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks[, metadata]). Bounds against the storage's bytes
// are checked later, once the archive entries are known.
func rebuildTensor(args pyTuple) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("takes 6 or 7 arguments, got %d", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("storage is %s, not a storage", typeName(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("storage offset %v is not a non-negative int", args[1])
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", shape, stride)
	}
	return &tensorRef{storage: st, offset: offset, shape: shape, stride: stride}, nil
}

func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a tuple", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s[%d] = %v is not a non-negative int", what, i, x)
		}
		out[i] = n
	}
	return out, nil
}

// storageCache is persistent_load's memory: torch.load keeps the first storage it built
// for a key (loaded_storages in torch/serialization.py) and hands it to every later
// reference, whatever storage type that reference names. So a storage referenced as
// FloatStorage and then as DoubleStorage is float32 throughout, and so it is here.
func storageCache() func(pid any) (any, error) {
	loaded := map[string]*storageRef{}
	return func(pid any) (any, error) {
		v, err := loadPersistentID(pid)
		if err != nil {
			return nil, err
		}
		ref := v.(*storageRef)
		if first, ok := loaded[ref.key]; ok {
			return first, nil
		}
		loaded[ref.key] = ref
		return ref, nil
	}
}

// loadPersistentID resolves ('storage', storage_type, key, location, numel).
func loadPersistentID(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("expected ('storage', type, key, location, numel), got %s", typeName(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, fmt.Errorf("unknown persistent id kind %v", t[0])
	}
	g, ok := t[1].(*pyGlobal)
	if !ok || g.kind != globalStorageType {
		return nil, fmt.Errorf("storage type is %s, not a torch storage type", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok || key == "" {
		return nil, fmt.Errorf("storage key %v is not a string", t[2])
	}
	location, _ := t[3].(string)
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage size %v is not a non-negative int", t[4])
	}
	return &storageRef{dtype: g.dtype, key: key, location: location, numel: numel}, nil
}
