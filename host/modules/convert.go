package modules

import (
	"errors"
	"fmt"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// Limits of ToGo: a recipe's value is data for Go code, never a way to exhaust its stack or
// memory. A 3-million-deep table would overflow the Go stack; these bounds stop it first.
const (
	MaxDepth  = 200     // tables inside tables
	MaxValues = 1 << 22 // values in all, keys included
)

// Conversion errors; ToGo wraps them with where the value was found.
var (
	ErrCycle    = errors.New("table contains itself")
	ErrTooDeep  = fmt.Errorf("tables nested deeper than %d levels", MaxDepth)
	ErrTooLarge = fmt.Errorf("more than %d values", MaxValues)
)

// Convert says how ToGo converts.
type Convert struct {
	// Ints turns integral numbers up to 2^53 into int; otherwise every number is a float64.
	Ints bool
	// Func converts a function; nil drops functions (they become nil).
	Func func(*lua.LFunction) any
}

// maxExactInt is the largest integer a float64 (a Lua number) holds exactly.
const maxExactInt = 1 << 53

// ToGo converts a Lua value to Go: nil, bool, string, float64 (or int, see Convert.Ints);
// sequences (keys 1..n, n > 0) to []any; other tables to map[string]any with number and
// boolean keys formatted as text; userdata to its Value; functions through c.Func; threads
// and channels to nil. Cycles, nesting deeper than MaxDepth and more than MaxValues values
// are errors, never a crash.
func ToGo(v lua.LValue, c Convert) (any, error) {
	cv := converter{Convert: c, seen: map[*lua.LTable]bool{}}
	return cv.value(v, 0)
}

type converter struct {
	Convert
	seen  map[*lua.LTable]bool
	count int
}

func (c *converter) value(v lua.LValue, depth int) (any, error) {
	c.count++
	if c.count > MaxValues {
		return nil, ErrTooLarge
	}
	switch v := v.(type) {
	case lua.LBool:
		return bool(v), nil
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		f := float64(v)
		if c.Ints && f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
			return int(f), nil
		}
		return f, nil
	case *lua.LUserData:
		return v.Value, nil
	case *lua.LFunction:
		if c.Func != nil {
			return c.Func(v), nil
		}
		return nil, nil
	case *lua.LTable:
		if depth >= MaxDepth {
			return nil, ErrTooDeep
		}
		if c.seen[v] {
			return nil, ErrCycle
		}
		c.seen[v] = true
		defer delete(c.seen, v)
		return c.table(v, depth+1)
	}
	return nil, nil
}

func (c *converter) table(t *lua.LTable, depth int) (any, error) {
	count := 0
	t.ForEach(func(lua.LValue, lua.LValue) { count++ })
	if c.count+count > MaxValues {
		return nil, ErrTooLarge
	}
	if count > 0 && isSequence(t, count) {
		list := make([]any, count)
		for i := range list {
			item, err := c.value(t.RawGetInt(i+1), depth)
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
		c.count++
		var item any
		item, err = c.value(val, depth)
		m[KeyText(k)] = item
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

// KeyText is how ToGo names a table key in a map.
func KeyText(k lua.LValue) string {
	switch k := k.(type) {
	case lua.LString:
		return string(k)
	case lua.LNumber, lua.LBool:
		return k.String()
	}
	return fmt.Sprintf("%s: %p", k.Type(), k)
}
