package npy

import (
	"archive/zip"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/tensor"
)

// maxDeflateRatio is the most that deflate can expand: 258 bytes from a 2-bit code gives
// 1032:1. A member that declares more is lying about its size.
const maxDeflateRatio = 1032

// Archive is an open .npz file. Member names drop the ".npy" suffix; np.savez's positional
// arrays are "arr_0", "arr_1", ...
type Archive struct {
	members map[string]*member
	infos   []tensor.Info // archive order
	source
}

type member struct {
	file   *zip.File
	header Header
}

// OpenNPZ reads the zip directory in r (size bytes) and every member's npy header. It
// refuses members whose declared sizes contradict their headers, and members that share
// compressed bytes (the overlapping-entry zip bomb). No array data is read.
func OpenNPZ(r io.ReaderAt, size int64) (*Archive, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotZip, err)
	}
	a := &Archive{members: map[string]*member{}}
	type span struct {
		name       string
		begin, end uint64
	}
	var spans []span
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue // a folder entry holds no data
		}
		name, ok := strings.CutSuffix(zf.Name, ".npy")
		if !ok {
			return nil, fmt.Errorf("%w %q: not a .npy file", ErrMember, zf.Name)
		}
		if _, dup := a.members[name]; dup {
			return nil, fmt.Errorf("array %q: %w", name, ErrDuplicateName)
		}
		m, err := openMember(zf, size)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", name, err)
		}
		off, _ := zf.DataOffset() // openMember succeeded, so the local header was readable
		spans = append(spans, span{name, uint64(off), uint64(off) + zf.CompressedSize64})
		a.members[name] = m
		a.infos = append(a.infos, tensor.Info{Name: name, DType: m.header.DType, Shape: m.header.Shape})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.begin, y.begin) })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("array %q: %w: its compressed data overlaps that of %q",
				spans[i].name, ErrZipBomb, spans[i-1].name)
		}
	}
	return a, nil
}

// openMember checks one member's declared sizes and reads its npy header.
func openMember(zf *zip.File, archiveSize int64) (*member, error) {
	switch zf.Method {
	case zip.Store:
		if zf.UncompressedSize64 != zf.CompressedSize64 {
			return nil, fmt.Errorf("%w: stored member declares %d bytes uncompressed and %d compressed",
				ErrSizeMismatch, zf.UncompressedSize64, zf.CompressedSize64)
		}
	case zip.Deflate:
		if hi, lo := bits.Mul64(zf.CompressedSize64, maxDeflateRatio); hi == 0 && zf.UncompressedSize64 > lo+maxDeflateRatio {
			return nil, fmt.Errorf("%w: %d compressed bytes cannot inflate to the declared %d",
				ErrZipBomb, zf.CompressedSize64, zf.UncompressedSize64)
		}
	default:
		return nil, fmt.Errorf("%w: compression method %d (numpy writes stored or deflated members)", ErrMember, zf.Method)
	}
	off, err := zf.DataOffset()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMember, err)
	}
	if end, carry := bits.Add64(uint64(off), zf.CompressedSize64, 0); carry != 0 || end > uint64(archiveSize) {
		return nil, fmt.Errorf("%w: compressed data runs past the end of the archive", ErrMember)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMember, err)
	}
	defer rc.Close()
	h, err := ReadHeader(rc)
	if err != nil {
		return nil, err
	}
	if want := uint64(h.DataOffset) + uint64(h.DataSize); zf.UncompressedSize64 != want {
		return nil, fmt.Errorf("%w: member declares %d bytes, its header (%v %v) needs %d",
			ErrSizeMismatch, zf.UncompressedSize64, h.DType, h.Shape, want)
	}
	return &member{file: zf, header: h}, nil
}

// OpenNPZFile opens a .npz archive by path. Errors name the path.
func OpenNPZFile(path string) (*Archive, error) {
	a, osf, err := openPath(path, OpenNPZ)
	if err != nil {
		return nil, err
	}
	a.path, a.closer = path, osf
	return a, nil
}

// Tensors lists the arrays in archive order.
func (a *Archive) Tensors() []tensor.Info {
	return tensor.CloneInfos(a.infos)
}

// Metadata is empty: .npz archives carry none.
func (a *Archive) Metadata() map[string]string { return map[string]string{} }

// Load inflates one array. It never reads more than the member's header declares and
// checks the zip checksum, so a member whose stream is longer, shorter or corrupt fails.
func (a *Archive) Load(name string) (*tensor.Tensor, error) {
	if a.closed {
		return nil, a.pathError(ErrClosed)
	}
	m, ok := a.members[name]
	if !ok {
		return nil, a.pathError(fmt.Errorf("array %q: %w", name, ErrNotFound))
	}
	t, err := m.load()
	if err != nil {
		return nil, a.pathError(fmt.Errorf("array %q: %w", name, err))
	}
	return t, nil
}

func (m *member) load() (*tensor.Tensor, error) {
	rc, err := m.file.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMember, err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, m.header.DataOffset); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMember, err)
	}
	// The size is what the header declares, and OpenNPZ checked it against the zip directory
	// and the deflate ratio, so the allocation is bounded by the archive size.
	data := make([]byte, m.header.DataSize)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("%w: data ends after fewer than %d bytes: %v", ErrMember, m.header.DataSize, err)
	}
	// Reading to the end makes archive/zip verify the CRC and the declared size.
	var extra [1]byte
	if n, err := rc.Read(extra[:]); n != 0 || !errors.Is(err, io.EOF) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("more data than declared")
		}
		return nil, fmt.Errorf("%w: %v", ErrMember, err)
	}
	return m.header.tensor(data), nil
}

// WriteNPZ writes an .npz archive at path with one member per name, in the given order,
// asking load for each array just before writing it, so only one array is in memory at a
// time. compress selects deflate (np.savez_compressed) over stored members (np.savez). The
// file is written atomically; on error or when ctx is cancelled nothing is left behind.
func WriteNPZ(ctx context.Context, path string, names []string, compress bool,
	load func(name string) (*tensor.Tensor, error)) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Abort()
	method := zip.Store
	if compress {
		method = zip.Deflate
	}
	zw := zip.NewWriter(f)
	seen := map[string]bool{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if seen[name] {
			return fmt.Errorf("%s: array %q: %w: %w", path, name, ErrWrite, ErrDuplicateName)
		}
		seen[name] = true
		t, err := load(name)
		if err != nil {
			return fmt.Errorf("%s: array %q: %w", path, name, err)
		}
		// A fixed timestamp keeps the output reproducible.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: method,
			Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return fmt.Errorf("%s: array %q: %w", path, name, err)
		}
		if err := Encode(w, t); err != nil {
			return fmt.Errorf("%s: array %q: %w", path, name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
