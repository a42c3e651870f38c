package modules

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// UsageError is the value a recipe raises for a wrong key=value argument (qs.usage_error):
// an unknown argument, a value of the wrong type or form, a missing one. The host marks the
// run's error as a usage error and the CLI exits with 2, as for its own flags; any other
// error is the recipe's (1). A userdata rather than a string, so that no message text has
// to be matched to tell them apart.
type UsageError struct {
	Message string // with the file:line prefix when the error has a position
}

func (e *UsageError) Error() string { return e.Message }

const usageErrorType = "qs.UsageError"

// RaiseUsage raises a usage error with msg. level works as error's: 1 puts the position
// of the function that called the Go function in front of msg, 2 its caller's, 0 none.
func RaiseUsage(L *lua.LState, msg string, level int) {
	if level > 0 {
		if dbg, ok := L.GetStack(level); ok {
			if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.CurrentLine > 0 {
				msg = fmt.Sprintf("%s:%d: %s", dbg.Source, dbg.CurrentLine, msg)
			}
		}
	}
	ud := L.NewUserData()
	ud.Value = &UsageError{Message: msg}
	mt := L.NewTypeMetatable(usageErrorType)
	if mt.RawGetString("__tostring") == lua.LNil {
		mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
			if e, ok := AsUsageError(L.Get(1)); ok {
				L.Push(lua.LString(e.Message))
				return 1
			}
			L.Push(lua.LString(usageErrorType))
			return 1
		}))
		mt.RawSetString("__metatable", lua.LString(usageErrorType))
	}
	L.SetMetatable(ud, mt)
	L.Error(ud, 0)
}

// AsUsageError reports whether v is a usage error raised by RaiseUsage.
func AsUsageError(v lua.LValue) (*UsageError, bool) {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return nil, false
	}
	e, ok := ud.Value.(*UsageError)
	return e, ok
}
