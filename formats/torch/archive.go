package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxPickleSize caps data.pkl. A state dict of a hundred thousand tensors takes a few MB;
// the cap bounds what a hostile archive can make the unpickler allocate.
const MaxPickleSize = 32 << 20

// maxRecordSize caps the small text records (version, byteorder).
const maxRecordSize = 64

// legacyPickleMagic starts a checkpoint of torch < 1.6: PROTO 2, then LONG1 of the magic
// number 0x1950a86a20f9469cfc6c.
var legacyPickleMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// archive is the zip container of a checkpoint. Names inside are "<prefix>/data.pkl",
// "<prefix>/data/<key>", "<prefix>/version" and, since torch 2.1, "<prefix>/byteorder";
// the prefix is the stem of the file name torch.save wrote first and can be anything.
type archive struct {
	zr     *zip.Reader
	size   int64
	prefix string // including the trailing slash
	files  map[string]*zip.File
}

// storageSpan is where a stored (uncompressed) storage entry's bytes lie in the file.
type storageSpan struct {
	key    string
	offset int64
	size   int64
	crc    uint32
}

func openArchive(r io.ReaderAt, size int64) (*archive, error) {
	if err := sniff(r, size); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(zr.File) == 0 {
		return nil, fmt.Errorf("%w: the zip archive is empty", ErrFormat)
	}
	// Like torch's reader, take the folder of the first entry as the archive's prefix.
	first := zr.File[0].Name
	slash := strings.IndexByte(first, '/')
	if slash <= 0 {
		return nil, fmt.Errorf("%w: first entry %q is not inside a folder, so this is not a torch.save archive", ErrFormat, first)
	}
	a := &archive{zr: zr, size: size, prefix: first[:slash+1], files: make(map[string]*zip.File, len(zr.File))}
	torchScript := false
	for _, f := range zr.File {
		rel, ok := strings.CutPrefix(f.Name, a.prefix)
		if !ok {
			continue
		}
		if _, dup := a.files[rel]; dup {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrFormat, f.Name)
		}
		a.files[rel] = f
		if rel == "constants.pkl" || strings.HasPrefix(rel, "code/") {
			torchScript = true
		}
	}
	if torchScript {
		return nil, ErrTorchScript
	}
	if _, ok := a.files["data.pkl"]; !ok {
		return nil, fmt.Errorf("%w: no %sdata.pkl in the archive", ErrFormat, a.prefix)
	}
	if err := a.checkRecords(); err != nil {
		return nil, err
	}
	return a, nil
}

// sniff recognizes the formats a .pt file may hold besides a zip archive, so that they get
// an error that says what to do.
func sniff(r io.ReaderAt, size int64) error {
	var head [512]byte
	n, err := r.ReadAt(head[:min(size, int64(len(head)))], 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	b := head[:n]
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return nil
	case bytes.HasPrefix(b, legacyPickleMagic), len(b) > 0 && b[0] == opProto:
		return ErrLegacyFormat // a bare pickle: torch < 1.6, or _use_new_zipfile_serialization=False
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		return ErrLegacyFormat // the tar format of torch ≤ 0.1.10
	case len(b) == 0:
		return fmt.Errorf("%w: the file is empty", ErrFormat)
	}
	return fmt.Errorf("%w: not a zip archive (starts with % x)", ErrFormat, b[:min(len(b), 4)])
}

// checkRecords validates the version and byteorder records when they are present.
func (a *archive) checkRecords() error {
	if _, ok := a.files["byteorder"]; ok {
		order, err := a.readSmall("byteorder", maxRecordSize)
		if err != nil {
			return err
		}
		switch strings.TrimSpace(string(order)) {
		case "little":
		case "big":
			return fmt.Errorf("%w: the checkpoint was written on a big-endian machine; load and re-save it on a little-endian one", ErrFormat)
		default:
			return fmt.Errorf("%w: byteorder record holds %q", ErrFormat, order)
		}
	}
	for _, name := range []string{"version", ".data/version"} {
		if _, ok := a.files[name]; !ok {
			continue
		}
		v, err := a.readSmall(name, maxRecordSize)
		if err != nil {
			return err
		}
		if _, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 32); err != nil {
			return fmt.Errorf("%w: %s record holds %q, not a number", ErrFormat, name, v)
		}
	}
	return nil
}

// readSmall reads a whole entry of at most limit bytes. The limit is checked against the
// declared size first and enforced while reading, since a deflated entry may inflate to
// more than it declares.
func (a *archive) readSmall(rel string, limit int64) ([]byte, error) {
	f := a.files[rel]
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w: %s declares %d bytes, the limit is %d", ErrFormat, f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s declares %d bytes; reading it failed after %d bytes: %v", ErrFormat, f.Name, f.UncompressedSize64, len(b), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s inflates past %d bytes", ErrFormat, f.Name, limit)
	}
	return b, nil
}

// storage locates data/<key>. Storages must be stored uncompressed, as torch writes
// them, so they can be read in place; their extent must lie inside the file.
func (a *archive) storage(key string) (storageSpan, error) {
	f, ok := a.files["data/"+key]
	if !ok {
		return storageSpan{}, fmt.Errorf("%w: storage data/%s is missing from the archive", ErrFormat, key)
	}
	name := "data/" + key
	if f.Method != zip.Store {
		return storageSpan{}, fmt.Errorf("%w: storage %s is compressed (method %d); torch writes storages uncompressed", ErrFormat, name, f.Method)
	}
	if f.CompressedSize64 != f.UncompressedSize64 {
		return storageSpan{}, fmt.Errorf("%w: storage %s is stored but declares %d bytes compressed and %d uncompressed", ErrFormat, name, f.CompressedSize64, f.UncompressedSize64)
	}
	off, err := f.DataOffset()
	if err != nil {
		return storageSpan{}, fmt.Errorf("%w: storage %s: %v", ErrFormat, name, err)
	}
	n := f.UncompressedSize64
	if off < 0 || uint64(off) > uint64(a.size) || n > uint64(a.size)-uint64(off) {
		return storageSpan{}, fmt.Errorf("%w: storage %s declares %d bytes at offset %d, past the end of the file (%d bytes)", ErrFormat, name, n, off, a.size)
	}
	return storageSpan{key: key, offset: off, size: int64(n), crc: f.CRC32}, nil
}
