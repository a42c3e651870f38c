package torch

import (
	"bytes"
	"encoding/binary"
	"math"
)

// pickleEncoder writes the protocol-2 pickle of an OrderedDict of tensors, using only the
// globals torch.load(weights_only=True) allows, the way torch.save lays it out.
type pickleEncoder struct {
	buf    bytes.Buffer
	memo   map[string]uint32 // globals already written, by "module\nname"
	nextID uint32
}

// encodeStateDict returns data.pkl for tensors whose storages are data/<key>.
func encodeStateDict(tensors []writtenTensor) []byte {
	e := &pickleEncoder{memo: map[string]uint32{}}
	e.buf.Write([]byte{opProto, 2})
	e.global("collections", "OrderedDict")
	e.buf.WriteByte(opEmptyTuple)
	e.buf.WriteByte(opReduce)
	e.buf.WriteByte(opMark)
	for _, t := range tensors {
		e.str(t.name)
		e.tensor(t)
	}
	e.buf.WriteByte(opSetItems)
	e.buf.WriteByte(opStop)
	return e.buf.Bytes()
}

// tensor writes _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()).
func (e *pickleEncoder) tensor(t writtenTensor) {
	numel := 1
	for _, d := range t.shape {
		numel *= d
	}
	e.global("torch._utils", "_rebuild_tensor_v2")
	e.buf.WriteByte(opMark)
	e.buf.WriteByte(opMark) // the persistent id tuple
	e.str("storage")
	e.global("torch", storageNames[t.dtype])
	e.str(t.key)
	e.str("cpu")
	e.int(int64(numel))
	e.buf.WriteByte(opTuple)
	e.buf.WriteByte(opBinPersID)
	e.int(0)
	e.ints(t.shape)
	strides := make([]int, len(t.shape))
	acc := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		strides[i] = acc
		acc *= t.shape[i]
	}
	e.ints(strides)
	e.buf.WriteByte(opNewFalse)
	e.global("collections", "OrderedDict")
	e.buf.WriteByte(opEmptyTuple)
	e.buf.WriteByte(opReduce)
	e.buf.WriteByte(opTuple)
	e.buf.WriteByte(opReduce)
}

// global writes GLOBAL once per name and BINGET afterwards.
func (e *pickleEncoder) global(module, name string) {
	key := module + "\n" + name
	if id, ok := e.memo[key]; ok {
		e.get(id)
		return
	}
	e.buf.WriteByte(opGlobal)
	e.buf.WriteString(key + "\n")
	e.put(key)
}

func (e *pickleEncoder) put(key string) {
	id := e.nextID
	e.nextID++
	e.memo[key] = id
	if id < 256 {
		e.buf.Write([]byte{opBinPut, byte(id)})
		return
	}
	e.buf.WriteByte(opLongBinPut)
	e.buf.Write(binary.LittleEndian.AppendUint32(nil, id))
}

func (e *pickleEncoder) get(id uint32) {
	if id < 256 {
		e.buf.Write([]byte{opBinGet, byte(id)})
		return
	}
	e.buf.WriteByte(opLongBinGet)
	e.buf.Write(binary.LittleEndian.AppendUint32(nil, id))
}

// str writes BINUNICODE, the one string opcode torch 1.13's weights-only unpickler reads.
// Names longer than 4 GiB were refused by Add.
func (e *pickleEncoder) str(s string) {
	e.buf.WriteByte(opBinUnicode)
	e.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	e.buf.WriteString(s)
}

func (e *pickleEncoder) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		e.buf.Write([]byte{opBinInt1, byte(v)})
	case v >= 0 && v < 1<<16:
		e.buf.WriteByte(opBinInt2)
		e.buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		e.buf.WriteByte(opBinInt)
		e.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		e.buf.Write([]byte{opLong1, 8})
		e.buf.Write(binary.LittleEndian.AppendUint64(nil, uint64(v)))
	}
}

// ints writes a tuple of ints, with the short tuple opcodes torch uses up to three.
func (e *pickleEncoder) ints(v []int) {
	switch len(v) {
	case 0:
		e.buf.WriteByte(opEmptyTuple)
		return
	case 1, 2, 3:
		for _, x := range v {
			e.int(int64(x))
		}
		e.buf.WriteByte([]byte{opTuple1, opTuple2, opTuple3}[len(v)-1])
		return
	}
	e.buf.WriteByte(opMark)
	for _, x := range v {
		e.int(int64(x))
	}
	e.buf.WriteByte(opTuple)
}
