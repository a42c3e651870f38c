package torch

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDecodeLong(t *testing.T) {
	cases := []struct {
		in   []byte
		want int64
		ok   bool
	}{
		{nil, 0, true},
		{[]byte{0xff}, -1, true},
		{[]byte{0x80}, -128, true},
		{[]byte{0x80, 0x00}, 128, true},
		{[]byte{0x00, 0xe6, 0x8e, 0xe7, 0xfd, 0xff}, -9000000000, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1<<63 - 1, true},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, -1 << 63, true},
		{make([]byte, 9), 0, false},
	}
	for _, c := range cases {
		got, ok := decodeLong(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("decodeLong(% x) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// Pickles written by hand for the rules that torch's own output never exercises.
func TestUnpicklerRules(t *testing.T) {
	cases := []struct {
		name string
		pkl  string
		want string // error text; empty when the pickle must load
	}{
		{"pop of a bare mark", "\x80\x02}(0.", ""},
		{"pop below a mark", "\x80\x02K\x01(\x85.", "data.pkl byte 5: torch: invalid checkpoint: stack underflow"},
		{"stop with leftovers", "\x80\x02K\x01K\x02.", "data.pkl byte 6: torch: invalid checkpoint: STOP leaves 1 items and 0 marks on the stack"},
		{"unknown protocol", "\x80\x06}.", "data.pkl byte 0: torch: invalid checkpoint: pickle protocol 6 is not supported"},
		{"text opcode", "\x80\x02I01\n.", "data.pkl byte 2: torch: invalid checkpoint: opcode 0x49 is not supported"},
		{"string past the end", "\x80\x02X\xff\xff\xff\x7fab.", "data.pkl byte 2: torch: invalid checkpoint: declares 2147483647 bytes, 3 left"},
		{"list as dict key", "\x80\x02}]K\x01s.", "data.pkl byte 6: torch: invalid checkpoint: dict key of type list is not supported"},
		{"storage type called", "\x80\x02ctorch\nFloatStorage\n)R.", "data.pkl byte 23: torch: invalid checkpoint: torch.FloatStorage: storage types are not callable here"},
		{"rebuild via NEWOBJ", "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)\x81.", `data.pkl byte 36: torch: global not allowed: NEWOBJ cannot construct "torch._utils._rebuild_tensor_v2"`},
		{"OrderedDict via NEWOBJ", "\x80\x02ccollections\nOrderedDict\n)\x81.", ""},
		{"bad persistent id", "\x80\x02X\x03\x00\x00\x00abc\x85Q.", "data.pkl byte 11: torch: invalid checkpoint: persistent id: expected ('storage', type, key, location, numel), got tuple"},
		{"control characters in a global", "\x80\x02cos\x1b[31m\nsystem\n.", `data.pkl byte 2: torch: global not allowed: "os\x1b[31m.system"`},
	}
	for _, c := range cases {
		_, err := unpickle([]byte(c.pkl), loadPersistentID)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s:\n got %v\nwant %s…", c.name, err, c.want)
		}
	}
}

func TestLegacyTarIsNamed(t *testing.T) {
	b := make([]byte, 1024)
	copy(b, "storages")
	copy(b[257:], "ustar\x0000")
	_, err := OpenReader(bytes.NewReader(b), int64(len(b)), "old.tar.pt")
	if !errors.Is(err, ErrLegacyFormat) {
		t.Fatalf("got %v, want ErrLegacyFormat", err)
	}
}

// TestLongSharedKeysAreBounded: two 1 MB keys memoized once and used at every level of a
// 30-deep tree make each leaf's dotted name 30 MB from a 2 MB pickle. The walk must stop at
// its name budget instead of building a million such names.
func TestLongSharedKeysAreBounded(t *testing.T) {
	var p bytes.Buffer
	p.WriteString("\x80\x02")
	for i, c := range []byte{'k', 'j'} {
		p.WriteString("X\x00\x00\x10\x00") // BINUNICODE of 1 MiB
		p.Write(bytes.Repeat([]byte{c}, 1<<20))
		p.Write([]byte{'q', byte(i), '0'}) // BINPUT i, POP
	}
	p.WriteString("}(h\x00K\x01h\x01K\x01uq\x020") // memo 2 = {K: 1, J: 1}
	for i := byte(2); i < 32; i++ {
		p.Write([]byte{'}', '(', 'h', 0, 'h', i, 'h', 1, 'h', i, 'u', 'q', i + 1, '0'}) // {K: d, J: d}
	}
	p.WriteString("h\x20.")
	root, err := unpickle(p.Bytes(), loadPersistentID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = flattenCheckpoint(root, p.Len())
	if want := "torch: invalid checkpoint: the checkpoint's names total more than 134217728 bytes"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
