package paths

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempMarker sits between a temporary file's destination name and the writer's process
// id: ".model.safetensors.tmp-qs4242-123456".
const tempMarker = ".tmp-qs"

// TempPattern is the os.CreateTemp pattern for a temporary file that becomes base: hidden,
// recognizable, and carrying this process's id so that CleanStale can tell whether its
// writer is still alive.
func TempPattern(base string) string {
	return "." + base + tempMarker + strconv.Itoa(os.Getpid()) + "-*"
}

// tempPID returns the process id in a temporary file's name, if it is one of ours.
func tempPID(name string) (int, bool) {
	if !strings.HasPrefix(name, ".") {
		return 0, false
	}
	i := strings.LastIndex(name, tempMarker)
	if i < 0 {
		return 0, false
	}
	rest := name[i+len(tempMarker):]
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// alive reports whether a process with this id exists (signal 0 checks without sending).
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CleanStale removes the temporary files and folders (llm writes a whole folder under
// TempPattern) in dir that a qscript process left behind when it died mid-write (kill -9,
// power loss), and returns their names. Those of live processes and every other entry are
// left alone. Errors are ignored: cleaning is best effort.
func CleanStale(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		pid, ok := tempPID(e.Name())
		if !ok || !(e.Type().IsRegular() || e.IsDir()) || alive(pid) {
			continue
		}
		if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}
