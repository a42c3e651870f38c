package torch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The unpickler implements the opcodes of pickle protocols 2 to 4 that torch.save and
// plain Python containers use, plus the object-building opcodes (GLOBAL, STACK_GLOBAL, INST,
// OBJ, REDUCE, NEWOBJ, BUILD) restricted to the allowlist in globals.go. Python values map
// to Go values as follows:
//
//	None → nil           bool → bool          int → int64       float → float64
//	str → string         bytes → pyBytes      list → *pyList    tuple → pyTuple
//	dict, OrderedDict → *pyDict               set, frozenset → *pyList
//	allowlisted global → *pyGlobal            persistent id → *storageRef
//	_rebuild_tensor_v2, _rebuild_parameter → *tensorRef
//
// Every allocation is bounded by the pickle's length: a string's declared length is
// checked against the bytes left before it is copied, and each push consumes at least one
// byte of input.

type (
	pyBytes []byte
	pyTuple []any
	pyList  struct{ items []any }
)

// pyDict keeps insertion order, as Python dicts do; index is built only once a dict grows.
type pyDict struct {
	keys, values []any
	index        map[any]int
}

func (d *pyDict) set(key any, value any) error {
	switch key.(type) {
	case nil, bool, int64, float64, string:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(key))
	}
	if i, ok := d.find(key); ok {
		d.values[i] = value
		return nil
	}
	d.keys = append(d.keys, key)
	d.values = append(d.values, value)
	if d.index != nil {
		d.index[key] = len(d.keys) - 1
	} else if len(d.keys) > 8 {
		d.index = make(map[any]int, len(d.keys))
		for i, k := range d.keys {
			d.index[k] = i
		}
	}
	return nil
}

func (d *pyDict) find(key any) (int, bool) {
	if d.index != nil {
		i, ok := d.index[key]
		return i, ok
	}
	for i, k := range d.keys {
		if k == key {
			return i, true
		}
	}
	return 0, false
}

func (d *pyDict) get(key string) (any, bool) {
	i, ok := d.find(key)
	if !ok {
		return nil, false
	}
	return d.values[i], true
}

// Pickle opcodes (Python's Lib/pickletools.py has the reference table).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opExt1           = 0x82
	opExt2           = 0x83
	opExt4           = 0x84
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// maxPickleProtocol is the highest protocol whose opcodes the unpickler knows.
const maxPickleProtocol = 5

// unpickler runs one pickle. persistentLoad resolves BINPERSID ids (the storages).
type unpickler struct {
	data           []byte
	pos            int // next byte to read
	op             int // offset of the opcode being run, for errors
	stack          []any
	marks          []int
	memo           map[uint32]any
	persistentLoad func(pid any) (any, error)
}

// unpickle runs data and returns the object that STOP leaves on the stack.
func unpickle(data []byte, persistentLoad func(pid any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}, persistentLoad: persistentLoad}
	return u.run()
}

// fail builds an error that says where in data.pkl it happened and wraps kind.
func (u *unpickler) fail(kind error, format string, args ...any) error {
	return fmt.Errorf("data.pkl byte %d: %w: %s", u.op, kind, fmt.Sprintf(format, args...))
}

func (u *unpickler) failf(format string, args ...any) error {
	return u.fail(ErrFormat, format, args...)
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.failf("needs %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readLen reads a little-endian length of size bytes and checks that many bytes remain.
func (u *unpickler) readLen(size int) (int, error) {
	b, err := u.read(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(len(u.data)-u.pos) {
		return 0, u.failf("declares %d bytes, %d left", n, len(u.data)-u.pos)
	}
	return int(n), nil
}

func (u *unpickler) readLine() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", u.failf("unterminated line")
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// pop refuses to reach below the innermost mark, as CPython's unpickler does.
func (u *unpickler) pop() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, u.failf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	v, err := u.pop()
	if err == nil {
		u.push(v)
	}
	return v, err
}

// popMark removes and returns the items pushed since the innermost MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.failf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) popN(n int) ([]any, error) {
	items := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := u.pop()
		if err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for {
		u.op = u.pos
		b, err := u.read(1)
		if err != nil {
			return nil, u.failf("pickle ends without STOP")
		}
		op := b[0]
		if op == opStop {
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if len(u.stack) != 0 || len(u.marks) != 0 {
				return nil, u.failf("STOP leaves %d items and %d marks on the stack", len(u.stack), len(u.marks))
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

// step runs one opcode other than STOP.
func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > maxPickleProtocol {
			return u.failf("pickle protocol %d is not supported", b[0])
		}
	case opFrame:
		// Frames only batch reads for the Python implementation; the content follows inline.
		_, err := u.readLen(8)
		return err
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.marks) > 0 && u.marks[len(u.marks)-1] == len(u.stack) {
			u.marks = u.marks[:len(u.marks)-1] // POP of a bare MARK discards it
			return nil
		}
		_, err := u.pop()
		return err
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt, opBinInt1, opBinInt2, opLong1, opLong4, opBinFloat:
		return u.number(op)
	case opBinUnicode, opShortBinUni, opBinUnicode8, opBinString, opShortBinString,
		opBinBytes, opShortBinBytes, opBinBytes8:
		return u.stringOp(op)
	case opEmptyTuple, opTuple, opTuple1, opTuple2, opTuple3:
		return u.tuple(op)
	case opEmptyList, opList, opAppend, opAppends, opEmptySet, opFrozenSet, opAddItems:
		return u.listOp(op)
	case opEmptyDict, opDict, opSetItem, opSetItems:
		return u.dictOp(op)
	case opBinPut, opLongBinPut, opMemoize, opBinGet, opLongBinGet:
		return u.memoOp(op)
	case opGlobal, opStackGlobal, opInst, opObj, opReduce, opNewObj, opNewObjEx, opBuild,
		opExt1, opExt2, opExt4:
		return u.objectOp(op)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return u.failf("persistent id: %v", err)
		}
		u.push(v)
	default:
		return u.failf("opcode 0x%02x is not supported", op)
	}
	return nil
}

func (u *unpickler) number(op byte) error {
	switch op {
	case opBinInt:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		b, err := u.read(1)
		if err != nil {
			return err
		}
		u.push(int64(b[0]))
	case opBinInt2:
		b, err := u.read(2)
		if err != nil {
			return err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case opLong1, opLong4:
		size := 1
		if op == opLong4 {
			size = 4
		}
		n, err := u.readLen(size)
		if err != nil {
			return err
		}
		b, _ := u.read(n)
		v, ok := decodeLong(b)
		if !ok {
			return u.failf("integer of %d bytes does not fit in 64 bits", n)
		}
		u.push(v)
	case opBinFloat:
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	}
	return nil
}

// decodeLong decodes a little-endian two's-complement integer of at most 8 bytes.
func decodeLong(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if len(b) > 8 {
		return 0, false
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if shift := uint(64 - 8*len(b)); shift > 0 {
		return int64(v<<shift) >> shift, true // sign-extend
	}
	return int64(v), true
}

func (u *unpickler) stringOp(op byte) error {
	size := 4
	switch op {
	case opShortBinUni, opShortBinString, opShortBinBytes:
		size = 1
	case opBinUnicode8, opBinBytes8:
		size = 8
	}
	n, err := u.readLen(size)
	if err != nil {
		return err
	}
	b, _ := u.read(n)
	switch op {
	case opBinBytes, opShortBinBytes, opBinBytes8:
		u.push(pyBytes(append([]byte(nil), b...)))
	default:
		u.push(string(b))
	}
	return nil
}

func (u *unpickler) tuple(op byte) error {
	var items []any
	var err error
	switch op {
	case opEmptyTuple:
		items = []any{}
	case opTuple:
		items, err = u.popMark()
	case opTuple1:
		items, err = u.popN(1)
	case opTuple2:
		items, err = u.popN(2)
	case opTuple3:
		items, err = u.popN(3)
	}
	if err != nil {
		return err
	}
	u.push(pyTuple(items))
	return nil
}

func (u *unpickler) listOp(op byte) error {
	switch op {
	case opEmptyList, opEmptySet:
		u.push(&pyList{})
		return nil
	case opList, opFrozenSet:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
		return nil
	}
	var items []any
	var err error
	if op == opAppend {
		items, err = u.popN(1)
	} else {
		items, err = u.popMark()
	}
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	list, ok := target.(*pyList)
	if !ok {
		return u.failf("cannot append to %s", typeName(target))
	}
	list.items = append(list.items, items...)
	return nil
}

func (u *unpickler) dictOp(op byte) error {
	var items []any
	var err error
	switch op {
	case opEmptyDict:
		u.push(&pyDict{})
		return nil
	case opDict:
		items, err = u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyDict{})
	case opSetItem:
		items, err = u.popN(2)
	case opSetItems:
		items, err = u.popMark()
	}
	if err != nil {
		return err
	}
	if len(items)%2 != 0 {
		return u.failf("odd number of items (%d) for a dict", len(items))
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	d, ok := target.(*pyDict)
	if !ok {
		return u.failf("cannot set an item on %s", typeName(target))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return u.failf("%v", err)
		}
	}
	return nil
}

func (u *unpickler) memoOp(op byte) error {
	var key uint32
	switch op {
	case opBinPut, opBinGet:
		b, err := u.read(1)
		if err != nil {
			return err
		}
		key = uint32(b[0])
	case opLongBinPut, opLongBinGet:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		key = binary.LittleEndian.Uint32(b)
	case opMemoize:
		key = uint32(len(u.memo))
	}
	if op == opBinGet || op == opLongBinGet {
		v, ok := u.memo[key]
		if !ok {
			return u.failf("memo key %d was never stored", key)
		}
		u.push(v)
		return nil
	}
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[key] = v
	return nil
}

// objectOp runs the opcodes that name or call globals. Globals are checked against the
// allowlist when they are named, so a forbidden one never reaches REDUCE.
func (u *unpickler) objectOp(op byte) error {
	switch op {
	case opGlobal, opInst:
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		g, err := u.resolve(module, name)
		if err != nil {
			return err
		}
		if op == opGlobal {
			u.push(g)
			return nil
		}
		args, err := u.popMark()
		if err != nil {
			return err
		}
		return u.construct(g, pyTuple(args), "INST")
	case opStackGlobal:
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		module, ok1 := items[0].(string)
		name, ok2 := items[1].(string)
		if !ok1 || !ok2 {
			return u.failf("STACK_GLOBAL needs two strings, got %s and %s", typeName(items[0]), typeName(items[1]))
		}
		g, err := u.resolve(module, name)
		if err != nil {
			return err
		}
		u.push(g)
	case opObj:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return u.failf("OBJ without a class")
		}
		return u.construct(items[0], pyTuple(items[1:]), "OBJ")
	case opNewObj, opNewObjEx:
		n := 2
		if op == opNewObjEx {
			n = 3
		}
		items, err := u.popN(n)
		if err != nil {
			return err
		}
		args, ok := items[1].(pyTuple)
		if !ok {
			return u.failf("NEWOBJ arguments are %s, not a tuple", typeName(items[1]))
		}
		if op == opNewObjEx {
			if kw, ok := items[2].(*pyDict); !ok || len(kw.keys) != 0 {
				return u.failf("NEWOBJ_EX with keyword arguments is not supported")
			}
		}
		return u.construct(items[0], args, "NEWOBJ")
	case opReduce:
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		args, ok := items[1].(pyTuple)
		if !ok {
			return u.failf("REDUCE arguments are %s, not a tuple", typeName(items[1]))
		}
		g, ok := items[0].(*pyGlobal)
		if !ok {
			return u.failf("REDUCE calls %s, which is not callable", typeName(items[0]))
		}
		v, err := g.call(args)
		if err != nil {
			return u.failf("%s.%s: %v", g.module, g.name, err)
		}
		u.push(v)
	case opBuild:
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		// BUILD sets attributes: torch uses it for a state dict's _metadata (module
		// versions) and for tensor attributes. Neither changes the weights; the state was
		// decoded under the same allowlist, so it is dropped.
		switch items[0].(type) {
		case *pyDict, *tensorRef:
			u.push(items[0])
		default:
			return u.failf("BUILD on %s is not supported", typeName(items[0]))
		}
	case opExt1, opExt2, opExt4:
		return u.fail(ErrForbiddenGlobal, "extension registry codes (EXT opcodes) are not allowed")
	}
	return nil
}

// construct handles class instantiation (INST, OBJ, NEWOBJ). Only OrderedDict qualifies.
func (u *unpickler) construct(cls any, args pyTuple, opname string) error {
	g, ok := cls.(*pyGlobal)
	if !ok {
		return u.failf("%s on %s, which is not a class", opname, typeName(cls))
	}
	if g.kind != globalOrderedDict {
		return u.fail(ErrForbiddenGlobal, "%s cannot construct %q", opname, g.module+"."+g.name)
	}
	v, err := g.call(args)
	if err != nil {
		return u.failf("%s.%s: %v", g.module, g.name, err)
	}
	u.push(v)
	return nil
}

// resolve looks a global up in the allowlist. Its refusal is the error users will read
// when a checkpoint holds anything but weights, so it names the global and says why.
func (u *unpickler) resolve(module, name string) (*pyGlobal, error) {
	if g, ok := allowedGlobals[module+"."+name]; ok {
		return g, nil
	}
	return nil, u.fail(ErrForbiddenGlobal, "%q; only tensors, storages, OrderedDict and plain containers are loaded (as torch.load(weights_only=True) does) and nothing in the pickle was run", module+"."+name)
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return v.module + "." + v.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
