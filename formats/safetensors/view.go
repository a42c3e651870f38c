package safetensors

// View returns one tensor's stored bytes as a slice of the memory map, without reading or
// copying them: each page is read from the file (or the page cache) when first touched and
// counts as resident memory until ReleaseRange drops it. It returns nil and no error when
// the file is not memory-mapped (opened by Open, or mapping failed); Section reads the
// bytes then. The slice is valid until Close and must not be written.
func (f *File) View(name string) ([]byte, error) {
	e, err := f.lookup(name)
	if err != nil || f.mapping == nil {
		return nil, err
	}
	start, end := f.dataStart+int64(e.begin), f.dataStart+int64(e.end)
	return f.mapping[start:end:end], nil
}

// ReleaseRange is Release for bytes [lo, hi) of one tensor's data (clipped to it): the
// mapped pages wholly inside the range stop counting as resident memory, so a reader that
// streams a tensor larger than its memory budget through View stays within it.
func (f *File) ReleaseRange(name string, lo, hi int64) error {
	e, err := f.lookup(name)
	if err != nil || f.mapped == nil {
		return err
	}
	lo, hi = max(lo, 0), min(hi, int64(e.end-e.begin))
	if lo >= hi {
		return nil
	}
	base := f.dataStart + int64(e.begin)
	return f.mapped.Release(base+lo, base+hi)
}

// View returns a tensor's bytes in its shard's memory map (see File.View).
func (s *Sharded) View(name string) ([]byte, error) {
	f, err := s.shardOf(name)
	if err != nil {
		return nil, err
	}
	return f.View(name)
}

// ReleaseRange releases pages of a tensor's bytes in its shard (see File.ReleaseRange).
func (s *Sharded) ReleaseRange(name string, lo, hi int64) error {
	f, err := s.shardOf(name)
	if err != nil {
		return err
	}
	return f.ReleaseRange(name, lo, hi)
}
