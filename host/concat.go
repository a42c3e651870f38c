package host

import (
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// The .. operator is the one way a recipe allocates that no library function sees: gopher-lua
// joins the strings inside the VM, in one allocation, and a string doubled in a loop grows
// past any memory limit within a single instruction, before the watchdog can stop the run.
// So every chunk is compiled with its .. chains turned into calls of checkedConcatOp, which
// asks the budget before joining. The function reaches the code as a constant: the chain
// becomes a call of a string constant no recipe can name (a random sentinel), and after
// compiling, that constant is replaced by the function, so no global or local can shadow
// it and no environment change can lose it.

// concatSentinel is the placeholder constant; random per process, so no source can forge it.
var concatSentinel = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "\x00qscript:concat:" + hex.EncodeToString(b)
}()

// concatFunction is the function the placeholder becomes. Go functions keep no state of a
// run (getfenv of a Go function gives the caller's globals), so compiled chunks share it.
var concatFunction = &lua.LFunction{IsG: true, GFunction: checkedConcatOp}

// concatCheckFrom is the size from which a join asks the budget first; smaller strings are
// left to the watchdog, which sees the heap grow.
const concatCheckFrom = 1 << 20

// rewriteConcat replaces every .. chain in the parsed chunk with a call of the placeholder.
func rewriteConcat(stmts []ast.Stmt) {
	rewriteValue(reflect.ValueOf(stmts))
}

// rewriteValue walks the syntax tree by reflection, so that every node type that holds
// expressions is covered, now and in later gopher-lua versions.
func rewriteValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			rewriteValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				rewriteValue(f)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			rewriteValue(v.Index(i))
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if c, ok := v.Interface().(*ast.StringConcatOpExpr); ok && v.CanSet() {
			v.Set(reflect.ValueOf(concatCall(c)))
			return
		}
		rewriteValue(v.Elem())
	}
}

// concatCall is the call that replaces a .. chain: a .. b .. c (right-associative, one
// CONCAT instruction) becomes (placeholder)(a, b, c), with the chain's line. Like a
// parenthesized call it gives exactly one value and is never a tail call.
func concatCall(c *ast.StringConcatOpExpr) *ast.FuncCallExpr {
	args := []ast.Expr{c.Lhs}
	rhs := c.Rhs
	for {
		next, ok := rhs.(*ast.StringConcatOpExpr)
		if !ok {
			break
		}
		args = append(args, next.Lhs)
		rhs = next.Rhs
	}
	args = append(args, rhs)
	rewriteValue(reflect.ValueOf(args))
	fn := &ast.StringExpr{Value: concatSentinel}
	fn.SetLine(c.Line())
	fn.SetLastLine(c.LastLine())
	call := &ast.FuncCallExpr{Func: fn, Args: args, AdjustRet: true}
	call.SetLine(c.Line())
	call.SetLastLine(c.LastLine())
	return call
}

// bindConcat puts the function in place of the placeholder constant, in proto and the
// functions it defines.
func bindConcat(proto *lua.FunctionProto) {
	for i, k := range proto.Constants {
		if s, ok := k.(lua.LString); ok && string(s) == concatSentinel {
			proto.Constants[i] = concatFunction
		}
	}
	for _, p := range proto.FunctionPrototypes {
		bindConcat(p)
	}
}

// checkedConcatOp is Lua's .. over its arguments, as gopher-lua's VM does it: from the
// right, a run of strings and numbers is joined at once, any other pair goes to the
// __concat metamethod of the left operand, else of the right one. A join of 1 MiB or more
// asks the memory budget first.
func checkedConcatOp(L *lua.LState) int {
	i := L.GetTop()
	rhs := L.Get(i)
	for i--; i >= 1; {
		lhs := L.Get(i)
		if lua.LVCanConvToString(lhs) && lua.LVCanConvToString(rhs) {
			first := i
			for first > 1 && lua.LVCanConvToString(L.Get(first-1)) {
				first--
			}
			rhs = joinStrings(L, first, i, rhs)
			i = first - 1
			continue
		}
		op := L.GetMetaField(lhs, "__concat")
		if op == lua.LNil {
			op = L.GetMetaField(rhs, "__concat")
		}
		if op.Type() != lua.LTFunction {
			L.RaiseError("cannot perform concat operation between %v and %v", lhs.Type().String(), rhs.Type().String())
		}
		L.Push(op)
		L.Push(lhs)
		L.Push(rhs)
		L.Call(2, 1)
		rhs = L.Get(-1)
		L.Pop(1)
		i--
	}
	L.Push(rhs)
	return 1
}

// joinStrings joins arguments first..last and rhs, all strings or numbers.
func joinStrings(L *lua.LState, first, last int, rhs lua.LValue) lua.LString {
	parts := make([]string, 0, last-first+2)
	total := int64(0)
	for k := first; k <= last; k++ {
		s := lua.LVAsString(L.Get(k))
		parts = append(parts, s)
		total += int64(len(s))
	}
	tail := lua.LVAsString(rhs)
	parts = append(parts, tail)
	total += int64(len(tail))
	if total >= concatCheckFrom {
		need(L, total, "the string built with ..")
	}
	return lua.LString(strings.Join(parts, ""))
}
