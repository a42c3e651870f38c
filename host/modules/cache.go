package modules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// DefaultCacheEntries bounds a Cache made with NewCache(0).
const DefaultCacheEntries = 64

// Cache keeps expensive results (a loaded model, calibration ranges) across the runs of one
// host, so that a watch-mode rerun after editing a skip list does not load and calibrate
// again. It is safe for concurrent use, and a value is loaded once even when several
// goroutines ask for it at the same time.
//
// Cached values are shared by every later run of the host: treat them as read-only, and
// derive new values instead of changing them. A value that implements io.Closer is closed
// once it has left the cache (its file changed, or it was evicted) at the next Sweep, or at
// Close.
type Cache struct {
	mu      sync.Mutex
	max     int
	tick    uint64
	entries map[string]*cacheEntry
	retired []*cacheEntry
}

type cacheEntry struct {
	ready chan struct{} // closed when value and err are set
	value any
	err   error
	ident fileIdent // zero for Value entries
	used  uint64
}

// fileIdent is what makes a cached file result stale: a different size or mtime.
type fileIdent struct {
	path  string
	size  int64
	mtime int64
}

// NewCache returns an empty cache holding at most maxEntries values (DefaultCacheEntries
// when maxEntries <= 0); the least recently used value leaves first.
func NewCache(maxEntries int) *Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &Cache{max: maxEntries, entries: make(map[string]*cacheEntry)}
}

// File returns the value that load produced for the file at path, calling load only when
// nothing is cached for (path, kind) or the file's size or modification time changed since.
// kind tells apart different results from one file ("model", "npy"). path should already be
// resolved (Env.Resolve). For a folder, the identity is the folder's own modification time,
// which changes when entries are added or removed, not when a file inside is rewritten.
// Errors are not cached.
func (c *Cache) File(path, kind string, load func() (any, error)) (any, error) {
	id, err := identify(path)
	if err != nil {
		return nil, err
	}
	return c.get("file\x00"+kind+"\x00"+id.path, id, load)
}

// Value returns the value cached under key, calling load when there is none. A result
// derived from files should put their FileKey into key, so that it is recomputed when they
// change. Errors are not cached.
func (c *Cache) Value(key string, load func() (any, error)) (any, error) {
	return c.get("value\x00"+key, fileIdent{}, load)
}

// FileKey returns a string that names the current version of the file at path (its absolute
// path, size and modification time), for use in Value keys.
func (c *Cache) FileKey(path string) (string, error) {
	id, err := identify(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s\x00%d\x00%d", id.path, id.size, id.mtime), nil
}

// Len reports how many values are cached.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Sweep closes the values that have left the cache and are io.Closers. The host calls it
// between runs, when no run can still be using them.
func (c *Cache) Sweep() error {
	c.mu.Lock()
	var done []*cacheEntry
	kept := c.retired[:0]
	for _, e := range c.retired {
		select {
		case <-e.ready:
			done = append(done, e)
		default:
			kept = append(kept, e) // still loading; close it at a later sweep
		}
	}
	c.retired = kept
	c.mu.Unlock()
	return closeValues(done)
}

// Close empties the cache and closes every value that is an io.Closer, waiting for loads in
// progress to finish first.
func (c *Cache) Close() error {
	c.mu.Lock()
	all := c.retired
	for _, e := range c.entries {
		all = append(all, e)
	}
	c.entries = make(map[string]*cacheEntry)
	c.retired = nil
	c.mu.Unlock()
	for _, e := range all {
		<-e.ready
	}
	return closeValues(all)
}

func (c *Cache) get(key string, id fileIdent, load func() (any, error)) (any, error) {
	c.mu.Lock()
	c.tick++
	if e, ok := c.entries[key]; ok {
		if e.ident == id {
			e.used = c.tick
			c.mu.Unlock()
			<-e.ready
			return e.value, e.err
		}
		c.retireLocked(key, e)
	}
	e := &cacheEntry{ready: make(chan struct{}), ident: id, used: c.tick}
	c.entries[key] = e
	c.evictLocked()
	c.mu.Unlock()

	c.fill(key, e, load)
	return e.value, e.err
}

// fill runs load and publishes its result, even when load panics, so waiters never hang.
func (c *Cache) fill(key string, e *cacheEntry, load func() (any, error)) {
	defer func() {
		if r := recover(); r != nil {
			e.err = fmt.Errorf("cache: loading %q panicked: %v", key, r)
		}
		close(e.ready)
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
	}()
	e.value, e.err = load()
}

func (c *Cache) retireLocked(key string, e *cacheEntry) {
	delete(c.entries, key)
	c.retired = append(c.retired, e)
}

// evictLocked drops least recently used entries beyond the bound.
func (c *Cache) evictLocked() {
	for len(c.entries) > c.max {
		var oldestKey string
		var oldest *cacheEntry
		for k, e := range c.entries {
			if oldest == nil || e.used < oldest.used {
				oldestKey, oldest = k, e
			}
		}
		c.retireLocked(oldestKey, oldest)
	}
}

func identify(path string) (fileIdent, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileIdent{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fileIdent{}, err
	}
	return fileIdent{path: abs, size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}

func closeValues(entries []*cacheEntry) error {
	var errs []error
	for _, e := range entries {
		if cl, ok := e.value.(io.Closer); ok && e.err == nil {
			if err := cl.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
