package formats

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// The magic checks look at the first bytes only; the readers validate everything else.

var (
	zipLocalHeader = []byte("PK\x03\x04")
	zipEmptyEnd    = []byte("PK\x05\x06")
	npyMagic       = []byte("\x93NUMPY")
)

// isSafetensors: an 8-byte little-endian header length, then the JSON object's '{'.
func isSafetensors(head []byte) bool {
	return len(head) >= 9 && binary.LittleEndian.Uint64(head) >= 2 && head[8] == '{'
}

func isNpy(head []byte) bool { return bytes.HasPrefix(head, npyMagic) }

// isNpz: a zip archive whose first member is a .npy file, or an empty archive.
func isNpz(head []byte) bool {
	if bytes.HasPrefix(head, zipEmptyEnd) {
		return true
	}
	name, ok := firstZipMember(head)
	return ok && strings.HasSuffix(name, ".npy")
}

// isTorch: a zip archive (torch >= 1.6, and TorchScript) whose first member is not a .npy
// file, or a bare pickle, which is the legacy format the reader explains how to convert.
func isTorch(head []byte) bool {
	if name, ok := firstZipMember(head); ok {
		return !strings.HasSuffix(name, ".npy")
	}
	return len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5
}

// isONNX: a protobuf ModelProto, whose writers emit field 1 (ir_version, varint) first.
func isONNX(head []byte) bool { return len(head) >= 2 && head[0] == 0x08 }

// isJSONObject: the first non-space byte opens a JSON object.
func isJSONObject(head []byte) bool {
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// firstZipMember returns the file name in the zip local header at the start of head.
func firstZipMember(head []byte) (string, bool) {
	if !bytes.HasPrefix(head, zipLocalHeader) || len(head) < 30 {
		return "", false
	}
	n := int(binary.LittleEndian.Uint16(head[26:]))
	if 30+n > len(head) {
		return "", true // a zip archive whose first name does not fit the head
	}
	return string(head[30 : 30+n]), true
}

// Describe says in a few words what the first bytes of a file look like, for messages
// such as "x.safetensors looks like a zip archive (PyTorch .pt?), not safetensors".
func Describe(head []byte) string {
	switch {
	case len(head) == 0:
		return "an empty file"
	case isNpy(head):
		return "a NumPy .npy file"
	case bytes.HasPrefix(head, zipEmptyEnd):
		return "an empty zip archive"
	case bytes.HasPrefix(head, zipLocalHeader):
		name, _ := firstZipMember(head)
		switch {
		case strings.HasSuffix(name, ".npy"):
			return "a zip archive of .npy files (.npz?)"
		case strings.HasSuffix(name, "data.pkl") || strings.Contains(name, "/code/") || strings.HasSuffix(name, "constants.pkl"):
			return "a zip archive (PyTorch .pt?)"
		}
		return "a zip archive"
	case isGGUF(head):
		return "a GGUF file (llama.cpp)"
	case isSafetensors(head):
		return "a safetensors file"
	case isJSONObject(head):
		return "JSON text"
	case head[0] == 0x80 && len(head) > 1 && head[1] >= 2 && head[1] <= 5:
		return "a pickle (legacy PyTorch .pt?)"
	case isONNX(head):
		return "a protobuf message (ONNX?)"
	}
	n := min(len(head), 8)
	return fmt.Sprintf("unrecognized data (first bytes % x)", head[:n])
}
