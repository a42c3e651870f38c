package safetensors

import "fmt"

// WriteRange stores bytes [off, off+len(data)) of one tensor's data, for a producer that
// makes a tensor piece by piece and never holds it whole. The pieces may come in any order
// but must not overlap; the tensor counts as written when they add up to its size, and
// Close refuses a tensor that is short. The written range is handed to the disk at once
// (see atomicfile.File.StartWriteback), so that Close's fsync finds little left to do.
// Like Write, it is not safe for concurrent use.
func (w *Writer) WriteRange(name string, off int64, data []byte) error {
	if w.err != nil {
		return w.err
	}
	s, ok := w.slots[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w: not in the header given to Create", w.f.Path(), name, ErrWrite)
	}
	size := s.end - s.begin
	if off < 0 || uint64(off) > size || uint64(len(data)) > size-uint64(off) || s.written {
		return fmt.Errorf("%s: tensor %q: %w: bytes [%d, %d) outside its %d bytes or written twice",
			w.f.Path(), name, ErrWrite, off, off+int64(len(data)), size)
	}
	pos := w.dataStart + int64(s.begin) + off
	if _, err := w.writeAt(data, pos); err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.f.Path(), name, err)
		return w.err
	}
	if w.direct == nil {
		w.f.StartWriteback(pos, int64(len(data)))
	}
	s.filled += uint64(len(data))
	s.written = s.filled == size
	return nil
}

// Direct makes the writer write the file with O_DIRECT (see atomicfile.Direct): for a
// large file written once and not read back soon, it saves the CPU time of the page cache.
// Call it before writing any tensor. It returns false, and the writer keeps using the page
// cache, when the filesystem refuses O_DIRECT.
func (w *Writer) Direct() bool {
	if w.err != nil || w.direct != nil {
		return w.direct != nil
	}
	d, err := w.f.OpenDirect()
	if err != nil {
		return false
	}
	// The header went through the page cache; the O_DIRECT block that holds it is written
	// whole, header included, and replaces those pages.
	if _, err := d.WriteAt(w.header, 0); err != nil {
		d.Close()
		return false
	}
	w.direct = d
	return true
}

// writeAt writes through O_DIRECT blocks after Direct, else through the page cache.
func (w *Writer) writeAt(p []byte, off int64) (int, error) {
	if w.direct != nil {
		return w.direct.WriteAt(p, off)
	}
	return w.f.WriteAt(p, off)
}
