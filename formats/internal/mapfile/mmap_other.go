//go:build !unix

package mapfile

import (
	"errors"
	"os"
)

func mmap(*os.File, int64) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap([]byte) error { return nil }

func release([]byte, int64, int64) error { return nil }
