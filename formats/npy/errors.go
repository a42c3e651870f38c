package npy

import "errors"

// Errors returned by the readers. They are wrapped with the member name (npz) and, by the
// *File openers, the file path, so errors.Is still finds them.
var (
	ErrNotNpy           = errors.New("npy: not a .npy file (bad magic)")
	ErrVersion          = errors.New("npy: unsupported format version")
	ErrHeaderTooLarge   = errors.New("npy: header too large")
	ErrTruncated        = errors.New("npy: file ends inside the header")
	ErrInvalidHeader    = errors.New("npy: invalid header")
	ErrBigEndian        = errors.New("npy: big-endian data is not supported")
	ErrUnsupportedDType = errors.New("npy: unsupported dtype")
	ErrInvalidShape     = errors.New("npy: invalid shape")
	ErrDataSize         = errors.New("npy: data length does not match shape and dtype")
	ErrNotFound         = errors.New("npy: no such array")
	ErrClosed           = errors.New("npy: file is closed")
	ErrWrite            = errors.New("npy: cannot write")

	ErrNotZip        = errors.New("npz: not a zip archive")
	ErrMember        = errors.New("npz: invalid member")
	ErrSizeMismatch  = errors.New("npz: declared size does not match the npy header")
	ErrZipBomb       = errors.New("npz: zip bomb")
	ErrDuplicateName = errors.New("npz: duplicate member name")
)
