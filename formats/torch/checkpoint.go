package torch

import (
	"fmt"
	"strconv"
	"strings"
)

// A checkpoint is often more than a state dict: {"state_dict": …, "epoch": 3},
// {"model": …, "optimizer": …}, nested dicts, or a state dict saved from DataParallel whose
// names all start with "module.". flattenCheckpoint turns the unpickled object into a flat
// list of named tensors, as load_state_dict would expect them.

// wrapperKeys name the entry that holds the weights in a training checkpoint, in the order
// they are tried.
var wrapperKeys = []string{"state_dict", "model_state_dict", "model"}

const (
	// maxNestingDepth bounds recursion; a pickle can also build cycles through the memo.
	maxNestingDepth = 64
	// maxFlattenVisits bounds the walk: shared references through the memo can make a small
	// pickle describe an exponentially large tree.
	maxFlattenVisits = 1 << 20
	// maxFlattenNameBytes bounds the dotted names the walk builds, in total: a long key
	// shared through the memo at every level would otherwise give each of the visits a
	// name of many megabytes. Real state dicts use a few MB.
	maxFlattenNameBytes = 128 << 20
	// The walk's whole output (names, metadata, entries) stays within a small multiple of
	// the pickle: flattenBytesPerByte times its length, plus flattenBytesBase. A real
	// state dict's output is about twice its pickle; a memo trick's is unbounded.
	flattenBytesPerByte = 64
	flattenBytesBase    = 8 << 20
	// visitCost is what one visited object costs the walk's output (an entry, a map slot).
	visitCost = 64
)

type namedTensor struct {
	name string
	ref  *tensorRef
}

type checkpoint struct {
	tensors   []namedTensor
	metadata  map[string]string
	seen      map[string]bool
	visits    int
	nameBytes int
	output    int // bytes of output so far: names, metadata values, visitCost per object
	maxOutput int
	pickle    int // the pickle's length, for the error
}

// flattenCheckpoint walks the unpickled object of a pickle of pickleLen bytes.
func flattenCheckpoint(root any, pickleLen int) (*checkpoint, error) {
	c := &checkpoint{metadata: map[string]string{}, seen: map[string]bool{},
		maxOutput: flattenBytesPerByte*pickleLen + flattenBytesBase, pickle: pickleLen}
	if _, ok := root.(*tensorRef); ok {
		return nil, fmt.Errorf("%w: the pickle holds a single tensor, not a dict of named tensors", ErrFormat)
	}
	root, err := c.unwrap(root)
	if err != nil {
		return nil, err
	}
	if err := c.walk(root, "", 0); err != nil {
		return nil, err
	}
	c.stripDataParallelPrefix()
	return c, nil
}

// unwrap descends into a training checkpoint's weights entry when the dict holds no tensor
// of its own, keeping its other plain entries (epoch, step) as metadata.
func (c *checkpoint) unwrap(root any) (any, error) {
	for depth := 0; depth < len(wrapperKeys); depth++ {
		d, ok := root.(*pyDict)
		if !ok || hasDirectTensor(d) {
			return root, nil
		}
		var inner *pyDict
		for _, k := range wrapperKeys {
			if v, ok := d.get(k); ok {
				if v, ok := v.(*pyDict); ok {
					inner = v
					break
				}
			}
		}
		if inner == nil {
			return root, nil
		}
		for i, k := range d.keys {
			if name, ok := keyName(k); ok {
				if s, ok := scalarString(d.values[i]); ok {
					c.metadata[name] = s
				}
			}
		}
		root = inner
	}
	return root, nil
}

func hasDirectTensor(d *pyDict) bool {
	for _, v := range d.values {
		if _, ok := v.(*tensorRef); ok {
			return true
		}
	}
	return false
}

func (c *checkpoint) walk(v any, name string, depth int) error {
	c.visits++
	if c.visits > maxFlattenVisits {
		return fmt.Errorf("%w: the checkpoint holds more than %d objects", ErrFormat, maxFlattenVisits)
	}
	if c.nameBytes += len(name); c.nameBytes > maxFlattenNameBytes {
		return fmt.Errorf("%w: the checkpoint's names total more than %d bytes", ErrFormat, maxFlattenNameBytes)
	}
	if depth > maxNestingDepth {
		return fmt.Errorf("%w: %q is nested more than %d levels deep", ErrFormat, name, maxNestingDepth)
	}
	if err := c.charge(visitCost + len(name)); err != nil {
		return err
	}
	switch v := v.(type) {
	case *tensorRef:
		if c.seen[name] {
			return fmt.Errorf("%w: tensor name %q appears twice", ErrFormat, name)
		}
		c.seen[name] = true
		c.tensors = append(c.tensors, namedTensor{name: name, ref: v})
	case *pyDict:
		for i, k := range v.keys {
			key, ok := keyName(k)
			if !ok {
				continue
			}
			if err := c.walk(v.values[i], join(name, key), depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		return c.walkSequence(v.items, name, depth)
	case pyTuple:
		return c.walkSequence(v, name, depth)
	default:
		if s, ok := scalarString(v); ok && name != "" {
			if err := c.charge(len(s)); err != nil {
				return err
			}
			c.metadata[name] = s
		}
	}
	return nil
}

// charge counts n bytes of the walk's output against its budget, which shared references
// through the memo would otherwise multiply far beyond the pickle's size.
func (c *checkpoint) charge(n int) error {
	if c.output += n; c.output > c.maxOutput {
		return fmt.Errorf("%w: a %d-byte pickle describes more than %d bytes of names and values (shared references repeated through the memo?)",
			ErrFormat, c.pickle, c.maxOutput)
	}
	return nil
}

func (c *checkpoint) walkSequence(items []any, name string, depth int) error {
	for i, item := range items {
		if err := c.walk(item, join(name, strconv.Itoa(i)), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// stripDataParallelPrefix removes "module." when every tensor name has it, as
// nn.DataParallel and DistributedDataParallel state dicts do.
func (c *checkpoint) stripDataParallelPrefix() {
	const prefix = "module."
	if len(c.tensors) == 0 {
		return
	}
	stripped := map[string]bool{}
	for _, t := range c.tensors {
		rest, ok := strings.CutPrefix(t.name, prefix)
		if !ok || rest == "" || stripped[rest] {
			return
		}
		stripped[rest] = true
	}
	for i := range c.tensors {
		c.tensors[i].name = c.tensors[i].name[len(prefix):]
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func keyName(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int64:
		return strconv.FormatInt(k, 10), true
	}
	return "", false
}

// scalarString renders plain values the way Python's str() does.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		if v {
			return "True", true
		}
		return "False", true
	}
	return "", false
}
