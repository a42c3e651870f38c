package host

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// decimalNumber is what an argument must look like to become a Lua number: plain decimal
// notation, so that values such as "inf", "0x10" or "1_000" stay strings.
var decimalNumber = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// argValue converts one key=value argument: "true" and "false" become booleans, decimal
// numbers become numbers, anything else stays a string.
func argValue(s string) lua.LValue {
	switch s {
	case "true":
		return lua.LTrue
	case "false":
		return lua.LFalse
	}
	if decimalNumber.MatchString(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return lua.LNumber(f)
		}
	}
	return lua.LString(s)
}

// argTable builds the recipe's global `arg`.
func argTable(L *lua.LState, args map[string]string) *lua.LTable {
	t := L.CreateTable(0, len(args))
	for k, v := range args {
		t.RawSetString(k, argValue(v))
	}
	return t
}

// maxExactInt is the largest integer a float64 (a Lua number) holds exactly.
const maxExactInt = 1 << 53

var errCycle = errors.New("a returned table contains itself")

// goValue converts a Lua value to Go: nil, bool, string; numbers to int when integral and
// exact, float64 otherwise; sequences (keys 1..n) to []any; other tables to map[string]any
// (number and boolean keys formatted as text); userdata to its Value; functions, threads
// and channels to nil.
func goValue(v lua.LValue) (any, error) {
	return goValueSeen(v, map[*lua.LTable]bool{})
}

func goValueSeen(v lua.LValue, seen map[*lua.LTable]bool) (any, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(v), nil
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		f := float64(v)
		if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
			return int(f), nil
		}
		return f, nil
	case *lua.LUserData:
		return v.Value, nil
	case *lua.LTable:
		if seen[v] {
			return nil, errCycle
		}
		seen[v] = true
		defer delete(seen, v)
		return goTable(v, seen)
	}
	return nil, nil
}

func goTable(t *lua.LTable, seen map[*lua.LTable]bool) (any, error) {
	count := 0
	t.ForEach(func(lua.LValue, lua.LValue) { count++ })
	if count > 0 && isSequence(t, count) {
		list := make([]any, count)
		for i := range list {
			item, err := goValueSeen(t.RawGetInt(i+1), seen)
			if err != nil {
				return nil, err
			}
			list[i] = item
		}
		return list, nil
	}
	m := make(map[string]any, count)
	var err error
	t.ForEach(func(k, val lua.LValue) {
		if err != nil {
			return
		}
		var item any
		item, err = goValueSeen(val, seen)
		m[keyText(k)] = item
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// isSequence reports whether the count keys of t are exactly 1..count.
func isSequence(t *lua.LTable, count int) bool {
	for i := 1; i <= count; i++ {
		if t.RawGetInt(i) == lua.LNil {
			return false
		}
	}
	return true
}

func keyText(k lua.LValue) string {
	switch k := k.(type) {
	case lua.LString:
		return string(k)
	case lua.LNumber, lua.LBool:
		return k.String()
	}
	return fmt.Sprintf("%s: %p", k.Type(), k)
}
