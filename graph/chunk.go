package graph

// The arena carves the buffers of intermediate values out of chunks, blocks of memory it
// keeps from Run to Run: a buffer taken from the smallest free span that holds it, given
// back by merging with its free neighbours. A value of one size can then reuse the memory
// a value of another size left, so the arena holds little more than the most memory the
// run has live at once (a network's large early activations serve its many smaller later
// ones), where whole buffers reused only for sizes close to their own added up per size.
// The first Run makes a chunk whenever no span is free that fits; the Runs after find
// the same spans free, in the same order of requests.

// chunkAlign is the granularity of the spans: buffers start on a cache line.
const chunkAlign = 64

// chunk is a block of memory and its free spans, sorted by offset and never adjacent.
type chunk struct {
	mem  []byte
	free []span
	// gone marks a chunk the arena no longer carves from: part of it left with a value
	// Graph.Run returned.
	gone bool
}

// span is a range of a chunk: [off, off+n).
type span struct{ off, n int }

// spanSize is the room a buffer of n bytes takes in a chunk.
func spanSize(n int) int { return (n + chunkAlign - 1) &^ (chunkAlign - 1) }

// carve takes n bytes from the smallest free span of the chunks that holds them, and
// returns the chunk and the offset, or nil.
func carve(chunks []*chunk, n int) (*chunk, int) {
	size := spanSize(n)
	var best *chunk
	bi := -1
	for _, c := range chunks {
		for i, s := range c.free {
			if s.n >= size && (bi < 0 || s.n < best.free[bi].n) {
				best, bi = c, i
			}
		}
	}
	if best == nil {
		return nil, 0
	}
	s := &best.free[bi]
	off := s.off
	s.off += size
	s.n -= size
	if s.n == 0 {
		best.free = append(best.free[:bi], best.free[bi+1:]...)
	}
	return best, off
}

// giveBack returns the span of a buffer of n bytes at off to the chunk's free spans,
// merged with the free spans either side.
func (c *chunk) giveBack(off, n int) {
	size := min(spanSize(n), len(c.mem)-off)
	i := 0
	for i < len(c.free) && c.free[i].off < off {
		i++
	}
	joinPrev := i > 0 && c.free[i-1].off+c.free[i-1].n == off
	joinNext := i < len(c.free) && off+size == c.free[i].off
	switch {
	case joinPrev && joinNext:
		c.free[i-1].n += size + c.free[i].n
		c.free = append(c.free[:i], c.free[i+1:]...)
	case joinPrev:
		c.free[i-1].n += size
	case joinNext:
		c.free[i].off, c.free[i].n = off, c.free[i].n+size
	default:
		c.free = append(c.free, span{})
		copy(c.free[i+1:], c.free[i:])
		c.free[i] = span{off, size}
	}
}

// empty reports whether nothing of the chunk is in use.
func (c *chunk) empty() bool { return len(c.free) == 1 && c.free[0].n == len(c.mem) }
