package atomicfile

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct writes the temporary file with O_DIRECT: the bytes go from the caller's memory
// to the disk without passing through the page cache, which on a machine with few cores
// saves the CPU time of copying them into the cache and writing the cache back (about as
// much as quantizing them). O_DIRECT needs aligned blocks, so Direct gathers the pieces
// given to WriteAt in blocks of DirectBlock bytes and writes each block once it is full;
// the last, partial block is written padded on Close and the file truncated to its size.
// Full blocks are written behind, by a goroutine of their own with up to writeBehind of
// them queued: an O_DIRECT pwrite returns only once the disk has the block, and a caller
// that waited for each one would stop producing while the disk works (the streaming save's
// workers then stall behind its writer, and the save takes compute plus disk time instead
// of the larger of the two).
// A block that stays incomplete while too many others are pending (pieces far out of
// order) is written through the page cache instead. Commit's fsync makes everything
// durable either way.
type Direct struct {
	f      *File
	fd     int
	blocks map[int64]*directBlock
	size   int64 // end of the furthest byte written
	err    error

	full     chan fullBlock // to writeFull
	finished chan struct{}  // closed when writeFull has written everything queued
	mu       sync.Mutex     // guards free and werr, shared with writeFull
	free     [][]byte
	werr     error // writeFull's first error
}

// fullBlock is a full block queued for writing at off.
type fullBlock struct {
	buf []byte
	off int64
}

// writeBehind is how many full blocks may wait for the disk.
const writeBehind = 4

// writeBlock writes a full block (a variable so that tests can make it fail).
var writeBlock = pwrite

// DirectBlock is the size of Direct's blocks.
const DirectBlock = 2 << 20

// maxOpenBlocks bounds the memory held by incomplete blocks (a variable for tests).
var maxOpenBlocks = 16

// directBlock is one block being gathered: its aligned buffer and the ranges filled.
type directBlock struct {
	buf    []byte
	filled int
	spans  [][2]int // filled ranges, to write them when the block is given up
	cached bool     // given up: its pieces go through the page cache
}

// OpenDirect opens the temporary file a second time with O_DIRECT, for writing with
// Direct.WriteAt. It fails where the filesystem refuses O_DIRECT (tmpfs); callers then
// write through File as usual. Nothing may be written through File itself meanwhile.
func (f *File) OpenDirect() (*Direct, error) {
	fd, err := unix.Open(f.File.Name(), unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: O_DIRECT: %w", err)
	}
	d := &Direct{f: f, fd: fd, blocks: map[int64]*directBlock{},
		full: make(chan fullBlock, writeBehind), finished: make(chan struct{})}
	go d.writeFull()
	return d, nil
}

// writeFull writes the queued full blocks in turn until full is closed (Close); after an
// error it only recycles their buffers.
func (d *Direct) writeFull() {
	defer close(d.finished)
	for b := range d.full {
		if d.writeErr() == nil {
			if err := writeBlock(d.fd, b.buf, b.off); err != nil {
				d.mu.Lock()
				d.werr = err
				d.mu.Unlock()
			}
		}
		d.recycle(b.buf)
	}
}

// writeErr is writeFull's first error.
func (d *Direct) writeErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.werr
}

// recycle keeps a written block's buffer for the next block.
func (d *Direct) recycle(buf []byte) {
	d.mu.Lock()
	d.free = append(d.free, buf)
	d.mu.Unlock()
}

// WriteAt stores p at off. Pieces must not overlap.
func (d *Direct) WriteAt(p []byte, off int64) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := len(p)
	d.size = max(d.size, off+int64(n))
	for len(p) > 0 {
		bi := off / DirectBlock
		at := int(off - bi*DirectBlock)
		k := min(len(p), DirectBlock-at)
		if err := d.put(bi, at, p[:k]); err != nil {
			d.err = err
			return 0, err
		}
		p, off = p[k:], off+int64(k)
	}
	return n, nil
}

// put copies a piece into block bi at offset at, and writes the block once full.
func (d *Direct) put(bi int64, at int, p []byte) error {
	b := d.blocks[bi]
	if b == nil {
		if d.open() >= maxOpenBlocks {
			if err := d.giveUpOldest(); err != nil {
				return err
			}
		}
		b = &directBlock{buf: d.buffer()}
		d.blocks[bi] = b
	}
	if b.cached {
		_, err := d.f.File.WriteAt(p, bi*DirectBlock+int64(at))
		return err
	}
	copy(b.buf[at:], p)
	b.filled += len(p)
	b.spans = append(b.spans, [2]int{at, at + len(p)})
	if b.filled < DirectBlock {
		return nil
	}
	delete(d.blocks, bi)
	if err := d.writeErr(); err != nil {
		return err
	}
	d.full <- fullBlock{b.buf, bi * DirectBlock}
	return nil
}

// pwrite writes all of p at off.
func pwrite(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err != nil {
			return fmt.Errorf("atomicfile: %w", err)
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// giveUpOldest writes the lowest incomplete block's pieces through the page cache; its
// later pieces go there too.
func (d *Direct) giveUpOldest() error {
	var oldest int64 = -1
	for bi, b := range d.blocks {
		if !b.cached && (oldest < 0 || bi < oldest) {
			oldest = bi
		}
	}
	b := d.blocks[oldest]
	for _, s := range b.spans {
		if _, err := d.f.File.WriteAt(b.buf[s[0]:s[1]], oldest*DirectBlock+int64(s[0])); err != nil {
			return err
		}
	}
	d.recycle(b.buf)
	// It stays in the map, without memory, so that its later pieces bypass Direct.
	b.buf, b.spans, b.cached = nil, nil, true
	return nil
}

// open counts the blocks that hold a buffer.
func (d *Direct) open() int {
	n := 0
	for _, b := range d.blocks {
		if !b.cached {
			n++
		}
	}
	return n
}

// buffer returns a DirectBlock-byte buffer aligned for O_DIRECT.
func (d *Direct) buffer() []byte {
	d.mu.Lock()
	if k := len(d.free); k > 0 {
		b := d.free[k-1]
		d.free = d.free[:k-1]
		d.mu.Unlock()
		return b
	}
	d.mu.Unlock()
	const align = 4096
	raw := make([]byte, DirectBlock+align)
	skip := (align - int(uintptr(unsafe.Pointer(&raw[0]))%align)) % align
	return raw[skip : skip+DirectBlock : skip+DirectBlock]
}

// Close waits for the full blocks queued, writes the blocks still incomplete (the file's
// last block, padded to the alignment, then truncated away), and closes the O_DIRECT
// descriptor. The file is complete when every byte up to the furthest one written was
// written. Close must be called once, also after an error, to stop the write-behind.
func (d *Direct) Close() error {
	defer unix.Close(d.fd)
	close(d.full)
	<-d.finished
	if d.err == nil {
		d.err = d.werr
	}
	if d.err != nil {
		return d.err
	}
	for _, bi := range slices.Sorted(maps.Keys(d.blocks)) {
		b := d.blocks[bi]
		if b.cached {
			continue
		}
		end := min(int64(DirectBlock), d.size-bi*DirectBlock)
		if int64(b.filled) != end {
			return fmt.Errorf("atomicfile: block at %d: %d of %d bytes written", bi*DirectBlock, b.filled, end)
		}
		padded := (int(end) + 4095) &^ 4095
		clear(b.buf[end:padded])
		if err := pwrite(d.fd, b.buf[:padded], bi*DirectBlock); err != nil {
			return err
		}
	}
	if err := unix.Ftruncate(d.fd, d.size); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}
