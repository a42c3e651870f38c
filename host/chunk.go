package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// builtinPrefix starts the chunk name of every file from the embedded library, so that an
// error in a built-in recipe is not mistaken for a file on disk.
const builtinPrefix = "builtin:"

// chunk is one Lua source file: a recipe or a module, on disk or in the embedded library.
type chunk struct {
	name    string // shown in errors: path relative to the working folder, or builtin:rel/path.lua
	path    string // absolute path on disk; empty for the library and for RunString
	dir     string // folder that relative requires start from: absolute on disk, slash path in the library
	library bool   // dir and the file are in the embedded library, not on disk
	src     []byte
}

// protoCache keeps compiled chunks by name and content. FunctionProtos are immutable once
// compiled, so runs share them; each run still builds its own closures and Lua state.
type protoCache struct {
	mu     sync.Mutex
	protos map[string]cachedProto // by chunk name; only the latest content is kept
}

type cachedProto struct {
	sum   [sha256.Size]byte
	proto *lua.FunctionProto
}

func newProtoCache() *protoCache {
	return &protoCache{protos: make(map[string]cachedProto)}
}

// compile returns the compiled chunk, from the cache when its content is unchanged. A syntax
// error comes back as an *Error with the chunk's name and line.
func (p *protoCache) compile(ctx context.Context, c *chunk) (*lua.FunctionProto, error) {
	sum := sha256.Sum256(c.src)
	p.mu.Lock()
	cached, ok := p.protos[c.name]
	p.mu.Unlock()
	if ok && cached.sum == sum {
		return cached.proto, nil
	}
	proto, err := compileStoppable(ctx, c.src, c.name)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, &Error{File: c.name, Message: stoppedMessage(ctxErr), Err: ctxErr}
	}
	if err != nil {
		return nil, syntaxError(c, err)
	}
	p.mu.Lock()
	p.protos[c.name] = cachedProto{sum: sum, proto: proto}
	p.mu.Unlock()
	return proto, nil
}

// syntaxError turns gopher-lua's parse and compile errors into an *Error with file:line.
func syntaxError(c *chunk, err error) *Error {
	e := &Error{File: c.name, Syntax: true, Err: err}
	var perr *parse.Error
	var cerr *lua.CompileError
	switch {
	case errors.As(err, &perr):
		if perr.Pos.Line == parse.EOF {
			e.Line = bytes.Count(c.src, []byte("\n")) + 1
			e.Message = fmt.Sprintf("%s at end of file", perr.Message)
		} else {
			e.Line = perr.Pos.Line
			e.Message = fmt.Sprintf("%s near '%s'", perr.Message, perr.Token)
		}
	case errors.As(err, &cerr):
		e.Line = cerr.Line
		e.Message = cerr.Message
	default:
		e.Message = strings.TrimSpace(err.Error())
	}
	return e
}
