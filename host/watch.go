package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long a file must stay quiet after an event before it counts as saved:
// editors write, rename and chmod in quick bursts.
const debounce = 100 * time.Millisecond

// Watch runs the recipe at path, then runs it again every time the recipe, or a module it
// required from disk, is saved, until ctx ends (then it returns nil). It watches folders,
// not files, so saves by rename are seen. A save cancels the run in flight. A changed file
// that does not compile is reported as a Result whose Err is a syntax *Error, without
// stopping the run in flight or the watch. When the last run failed, a change to any .lua
// file in the watched folders triggers a new run (the missing module may just have been
// created).
//
// fn is called from the goroutine that called Watch with every finished run (and every
// syntax error), never with a run that a newer save cancelled. Result.Run numbers the calls.
func (h *Host) Watch(ctx context.Context, path string, args map[string]string, fn func(Result)) error {
	return h.WatchRuns(ctx, path, args, WatchCallbacks{Finished: fn})
}

// WatchCallbacks receive the runs of WatchRuns, always from the goroutine that called it.
type WatchCallbacks struct {
	// Started, if set, is called just before a run begins, with Recipe, Run, Started and
	// Changed filled in; whatever the run prints comes after it.
	Started func(Result)
	// Finished is called with every finished run and every syntax error found in a saved
	// file (a syntax error has a Run number of its own, and no Started call).
	Finished func(Result)
}

// WatchRuns is Watch with a callback before each run as well, for printing a separator
// between runs.
func (h *Host) WatchRuns(ctx context.Context, path string, args map[string]string, cb WatchCallbacks) error {
	fn := cb.Finished
	if fn == nil {
		fn = func(Result) {}
	}
	recipe, err := h.watchTarget(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	s := &watchSession{
		h: h, ctx: ctx, recipe: recipe, args: args, fn: fn, started: cb.Started, w: w,
		watched:   map[string]bool{},
		relevant:  map[string]bool{recipe: true},
		timers:    map[string]*time.Timer{},
		pending:   map[string]bool{},
		fired:     make(chan string),
		stopTimer: make(chan struct{}),
	}
	defer close(s.stopTimer)
	if err := s.watchDir(filepath.Dir(recipe)); err != nil {
		return err
	}
	return s.loop()
}

// watchTarget resolves the recipe to watch: it must be a file on disk.
func (h *Host) watchTarget(path string) (string, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(h.workDir, path)
	}
	if fi, err := os.Stat(abs); err == nil && fi.Mode().IsRegular() {
		return filepath.Clean(abs), nil
	}
	if name, ok := builtinName(path); ok {
		if _, err := h.builtinChunk(name); err == nil {
			return "", fmt.Errorf("watch: %s is a built-in recipe inside the binary, so there is nothing to watch; copy it with `qscript new %s` and watch the copy", path, name)
		}
	}
	return "", fmt.Errorf("watch: %w: %s", ErrRecipeNotFound, path)
}

type watchSession struct {
	h       *Host
	ctx     context.Context
	recipe  string
	args    map[string]string
	fn      func(Result)
	started func(Result)
	w       *fsnotify.Watcher

	watched    map[string]bool // folders added to the watcher
	relevant   map[string]bool // files whose change triggers a run: the recipe and its modules
	lastFailed bool

	timers    map[string]*time.Timer // debounce timer per path
	pending   map[string]bool        // saved files not yet handled by a run
	fired     chan string            // a path whose debounce timer ran out
	stopTimer chan struct{}          // closed when Watch returns, so timers never block

	runs      int
	cancelRun context.CancelFunc
	done      chan Result // the run in flight, or nil
}

func (s *watchSession) loop() error {
	s.start(nil)
	rewatch := time.NewTicker(rewatchInterval)
	defer rewatch.Stop()
	for {
		select {
		case <-rewatch.C:
			s.rewatch()
		case <-s.ctx.Done():
			s.stopRun()
			for _, t := range s.timers {
				t.Stop()
			}
			return nil
		case res := <-s.done:
			s.finish(res)
		case ev, ok := <-s.w.Events:
			if !ok {
				s.stopRun()
				return errors.New("watch: the file watcher stopped")
			}
			s.event(ev)
		case err, ok := <-s.w.Errors:
			if !ok {
				s.stopRun()
				return errors.New("watch: the file watcher stopped")
			}
			// Events may have been lost (queue overflow): run again to be safe.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				s.schedule(s.recipe)
			}
		case p := <-s.fired:
			delete(s.timers, p)
			s.pending[p] = true
			s.saved()
		}
	}
}

// event filters a file-system event and debounces it per path.
func (s *watchSession) event(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return
	}
	p := filepath.Clean(ev.Name)
	if !s.relevant[p] && !(s.lastFailed && strings.HasSuffix(p, ".lua")) {
		return
	}
	s.schedule(p)
}

func (s *watchSession) schedule(p string) {
	if t, ok := s.timers[p]; ok {
		t.Reset(debounce)
		return
	}
	s.timers[p] = time.AfterFunc(debounce, func() {
		select {
		case s.fired <- p:
		case <-s.stopTimer:
		}
	})
}

// saved handles quiet files: compile them first, and only then replace the run in flight.
func (s *watchSession) saved() {
	changed := s.pendingList()
	for _, p := range changed {
		if err := s.h.checkSyntax(s.ctx, p); err != nil {
			s.runs++
			s.fn(Result{Recipe: s.h.displayName(s.recipe), Err: err, Started: time.Now(), Run: s.runs, Changed: changed})
			return
		}
	}
	s.pending = map[string]bool{}
	s.stopRun()
	s.start(changed)
}

func (s *watchSession) pendingList() []string {
	list := make([]string, 0, len(s.pending))
	for p := range s.pending {
		list = append(list, p)
	}
	sort.Strings(list)
	return list
}

// start runs the recipe in its own goroutine with a context that the next save cancels.
func (s *watchSession) start(changed []string) {
	s.runs++
	n := s.runs
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan Result, 1)
	s.cancelRun, s.done = cancel, done
	if s.started != nil {
		s.started(Result{Recipe: s.h.displayName(s.recipe), Started: time.Now(), Run: n, Changed: changed})
	}
	go func() {
		s.h.runMu.Lock()
		defer s.h.runMu.Unlock()
		var res Result
		if c, err := s.h.diskChunk(s.recipe); err != nil {
			res = Result{Recipe: s.h.displayName(s.recipe), Err: err, Started: time.Now(), Changed: changed}
		} else {
			res, _ = s.h.runChunk(ctx, c, s.args, changed)
		}
		res.Run = n
		done <- res
	}()
}

// stopRun cancels the run in flight, if any, and waits for it, dropping its result.
func (s *watchSession) stopRun() {
	if s.done == nil {
		return
	}
	s.cancelRun()
	<-s.done
	s.done = nil
}

// finish reports a run and watches the folders of the files it loaded.
func (s *watchSession) finish(res Result) {
	s.cancelRun()
	s.done = nil
	s.relevant = map[string]bool{s.recipe: true}
	for _, f := range res.Files {
		s.relevant[f] = true
		if err := s.watchDir(filepath.Dir(f)); err != nil && res.Err == nil {
			res.Err = err
		}
	}
	s.lastFailed = res.Err != nil
	s.fn(res)
}

// rewatchInterval is how often the watch looks for its folders coming back.
const rewatchInterval = 500 * time.Millisecond

// rewatch adds again the folders that the watcher dropped because they were deleted (or
// renamed away), once they exist again, and runs the recipe: a checkout or a sync tool
// may have replaced the whole folder.
func (s *watchSession) rewatch() {
	active := map[string]bool{}
	for _, d := range s.w.WatchList() {
		active[filepath.Clean(d)] = true
	}
	for dir := range s.watched {
		if active[dir] {
			continue
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if s.w.Add(dir) == nil {
			s.schedule(s.recipe)
		}
	}
}

func (s *watchSession) watchDir(dir string) error {
	if s.watched[dir] {
		return nil
	}
	if err := s.w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	s.watched[dir] = true
	return nil
}

// checkSyntax compiles a saved Lua file (warming the compile cache for the run that
// follows). A file that is gone or unreadable passes: the run reports it.
func (h *Host) checkSyntax(ctx context.Context, p string) error {
	if !strings.HasSuffix(p, ".lua") {
		return nil
	}
	c, err := h.diskChunk(p)
	if err != nil {
		return nil
	}
	_, err = h.protos.compile(ctx, c)
	return err
}
