package host

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/budget"
	"github.com/qscript-dev/qscript/internal/clip"
)

// ErrRecipeNotFound is wrapped by the error of a run whose recipe is neither a file nor a
// built-in.
var ErrRecipeNotFound = errors.New("recipe not found")

// Error is a failed run: a Lua error, a syntax error, or a run stopped by its context. Its
// Error() reads like Lua's own messages, `recipes/x.lua:12: bad argument #1 to 'greet'
// (string expected, got nil)`, without Go or Lua stack traces.
type Error struct {
	File      string // chunk name: a path relative to the working folder, or builtin:recipes/x.lua
	Line      int    // 0 when unknown
	Message   string // the message without the file:line prefix
	Syntax    bool   // the file did not compile
	Internal  bool   // a bug of qscript or of a module (a Go panic), not of the recipe
	Usage     bool   // a wrong argument of the recipe, raised with qs.usage_error
	Traceback string // Lua's stack traceback, for those who want it
	Err       error  // the cause: context.Canceled, context.DeadlineExceeded, a parse error, or nil
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	case e.File != "":
		return e.File + ": " + e.Message
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

var (
	// positionPrefix matches the "file:line: " that Lua puts in front of error messages.
	positionPrefix = regexp.MustCompile(`(?s)^([^\n]+?):(\d+): (.*)$`)
	// tracebackLine matches a frame of gopher-lua's traceback: "\tfile:line: in ...".
	tracebackLine = regexp.MustCompile(`(?m)^\t([^\n]+?):(\d+): in `)
	// unquotedArg matches gopher-lua's ArgError wording, which leaves the function name bare.
	unquotedArg = regexp.MustCompile(`bad argument #(\d+) to ([^\s'(<][^\s'(]*) \(`)
)

// runError converts what PCall returned into an *Error. chunks are the names of the files
// this run loaded, used to find the recipe's position in the traceback when the message
// carries none (error("x", 0), errors raised from Go with level 0, panics).
func runError(ctx context.Context, L *lua.LState, err error, chunks map[string]*chunk) *Error {
	e := &Error{}
	var api *lua.ApiError
	if errors.As(err, &api) {
		e.Traceback = api.StackTrace
		e.Message = errorText(L, api.Object)
		_, e.Usage = modules.AsUsageError(api.Object)
		if api.Type == lua.ApiErrorPanic {
			e.Message = "internal error: " + e.Message
			e.Internal = true
		}
	} else {
		e.Message = err.Error()
	}
	if m := positionPrefix.FindStringSubmatch(e.Message); m != nil {
		e.File, e.Line, e.Message = m[1], atoi(m[2]), m[3]
	} else {
		e.File, e.Line = firstKnownFrame(e.Traceback, chunks)
	}
	refusal := budget.Refusal(ctx, e.Message) // before clipping, which may cut its text
	e.Message = clip.Text(unquotedArg.ReplaceAllString(e.Message, "bad argument #$1 to '$2' ("))
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
		e.Message = stoppedMessage(ctxErr)
		e.Internal, e.Usage = false, false
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, budget.ErrExceeded) {
			e.Err = cause
			e.Message = "stopped: " + cause.Error()
		}
	} else if refusal != nil {
		e.Err = refusal
	}
	return e
}

func stoppedMessage(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "stopped: time limit exceeded"
	}
	return "stopped: interrupted"
}

// errorText renders an error value the way Lua's standalone interpreter does.
func errorText(L *lua.LState, v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	if fn, ok := L.GetMetaField(v, "__tostring").(*lua.LFunction); ok {
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, v); err == nil {
			s := L.Get(-1)
			L.Pop(1)
			return s.String()
		}
	}
	return fmt.Sprintf("(error object is a %s value)", v.Type())
}

func firstKnownFrame(traceback string, chunks map[string]*chunk) (string, int) {
	for _, m := range tracebackLine.FindAllStringSubmatch(traceback, -1) {
		if _, ok := chunks[m[1]]; ok {
			return m[1], atoi(m[2])
		}
	}
	return "", 0
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
