package modules

import (
	"errors"
	"reflect"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func TestToGo(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(`
		seq = {1, 2.5, "x", true}
		map = {a = 1, [2] = "two", [true] = false}
		cyc = {} cyc.self = cyc
		deep = {} local c = deep for i = 1, 1000 do c[1] = {} c = c[1] end
		local row = {} for i = 1, 3000 do row[i] = i end
		wide = {} for i = 1, 3000 do wide[i] = row end`); err != nil { // wide: 9 million values through one shared row
		t.Fatal(err)
	}
	got, err := ToGo(L.GetGlobal("seq"), Convert{Ints: true})
	if want := []any{1, 2.5, "x", true}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("seq = %#v, %v", got, err)
	}
	got, err = ToGo(L.GetGlobal("map"), Convert{})
	if want := map[string]any{"a": 1.0, "2": "two", "true": false}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("map = %#v, %v", got, err)
	}
	for name, want := range map[string]error{"cyc": ErrCycle, "deep": ErrTooDeep, "wide": ErrTooLarge} {
		if _, err := ToGo(L.GetGlobal(name), Convert{}); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
}

// FuzzToGo builds a Lua value from the fuzzer's bytes (a small stack language: tables,
// nesting, shared references and cycles) and converts it: never a panic, never a Go
// stack overflow, and the limits hold.
func FuzzToGo(f *testing.F) {
	for _, s := range []string{"[n]", "[[[s]]]", "[n c]", "[[n][b]]", "[kn ks kb]", string(make([]byte, 300))} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		L := lua.NewState()
		defer L.Close()
		v := build(L, prog)
		out, err := ToGo(v, Convert{Ints: len(prog)%2 == 0})
		if err == nil && depth(out) > MaxDepth+1 {
			t.Fatalf("converted a value nested %d deep", depth(out))
		}
	})
}

// build runs prog: '[' or 0 opens a table, ']' closes it, 'n' 's' 'b' add a number, a
// string or a boolean to the open table, 'c' adds the table two levels up (a cycle), 'r'
// adds the last closed table again (a shared reference), 'k' makes the next value keyed.
func build(L *lua.LState, prog []byte) lua.LValue {
	stack := []*lua.LTable{L.NewTable()}
	var last *lua.LTable
	keyed := false
	add := func(v lua.LValue) {
		top := stack[len(stack)-1]
		if keyed {
			top.RawSetString(string(rune('a'+top.Len()%26)), v)
			keyed = false
			return
		}
		top.Append(v)
	}
	for _, op := range prog {
		switch op {
		case '[', 0:
			t := L.NewTable()
			add(t)
			stack = append(stack, t)
		case ']':
			if len(stack) > 1 {
				last = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		case 'n':
			add(lua.LNumber(len(stack)))
		case 's':
			add(lua.LString("s"))
		case 'b':
			add(lua.LTrue)
		case 'c':
			if len(stack) > 2 {
				add(stack[len(stack)-3])
			}
		case 'r':
			if last != nil {
				add(last)
			}
		case 'k':
			keyed = true
		}
	}
	return stack[0]
}

func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	case map[string]any:
		for _, x := range v {
			d = max(d, depth(x))
		}
		return d + 1
	}
	return 0
}
