package host

import (
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
