package safetensors

import "errors"

// Errors returned by the reader. They are wrapped with the tensor name (and, by OpenFile,
// the file path) so errors.Is still finds them.
var (
	ErrTruncated        = errors.New("safetensors: file shorter than the 8-byte header length")
	ErrHeaderTooLarge   = errors.New("safetensors: header too large")
	ErrHeaderBeyondFile = errors.New("safetensors: header length beyond end of file")
	ErrInvalidHeader    = errors.New("safetensors: invalid header")
	ErrDuplicateName    = errors.New("safetensors: duplicate tensor name")
	ErrUnknownDType     = errors.New("safetensors: unknown dtype")
	ErrUnsupportedDType = errors.New("safetensors: dtype not supported by qscript")
	ErrInvalidShape     = errors.New("safetensors: invalid shape")
	ErrInvalidOffsets   = errors.New("safetensors: invalid data_offsets")
	ErrOffsetsPastEOF   = errors.New("safetensors: data_offsets past end of file")
	ErrSizeMismatch     = errors.New("safetensors: byte length does not match shape and dtype")
	ErrOffsetsOverlap   = errors.New("safetensors: data_offsets overlap")
	ErrOffsetsGap       = errors.New("safetensors: gap between tensors")
	ErrTrailingData     = errors.New("safetensors: data after the last tensor")
	ErrInvalidMetadata  = errors.New("safetensors: invalid __metadata__")
	ErrInvalidIndex     = errors.New("safetensors: invalid index")
	ErrNotFound         = errors.New("safetensors: no such tensor")
	ErrClosed           = errors.New("safetensors: file is closed")
	ErrWrite            = errors.New("safetensors: cannot write")
)
