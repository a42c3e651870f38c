package gguf

import "errors"

// Errors returned by the reader and the writer. They are wrapped with the key or tensor
// name (and, by OpenFile, the file path) so errors.Is still finds them.
var (
	ErrMagic          = errors.New("gguf: not a GGUF file (magic is not \"GGUF\")")
	ErrVersion        = errors.New("gguf: unsupported GGUF version")
	ErrTruncated      = errors.New("gguf: file truncated")
	ErrHeaderTooLarge = errors.New("gguf: header too large")
	ErrCount          = errors.New("gguf: count larger than the file can hold")
	ErrValueType      = errors.New("gguf: invalid metadata value type")
	ErrNesting        = errors.New("gguf: arrays nested too deeply")
	ErrKey            = errors.New("gguf: invalid metadata key")
	ErrDuplicateKey   = errors.New("gguf: duplicate metadata key")
	ErrAlignment      = errors.New("gguf: invalid general.alignment")
	ErrTensorName     = errors.New("gguf: invalid tensor name")
	ErrDuplicateName  = errors.New("gguf: duplicate tensor name")
	ErrDims           = errors.New("gguf: invalid tensor dimensions")
	ErrTensorType     = errors.New("gguf: unknown tensor type")
	ErrBlockSize      = errors.New("gguf: row length is not a multiple of the type's block size")
	ErrOverflow       = errors.New("gguf: tensor size overflows")
	ErrOffset         = errors.New("gguf: tensor offset is not where ggml expects it")
	ErrPastEOF        = errors.New("gguf: tensor data past end of file")
	ErrNotFound       = errors.New("gguf: no such tensor")
	ErrWrite          = errors.New("gguf: cannot write")
)
