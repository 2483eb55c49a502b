// Package lockfile gives a process exclusive use of something (an output
// folder) through flock(2) on a file: the kernel releases the lock when the
// process ends, however it ends, so a killed process leaves no stale lock.
package lockfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// HeldError reports a lock held by another process.
type HeldError struct {
	Path string
	// PID is the holder's process id as it wrote it into the file; 0 if
	// unknown.
	PID int
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is held by process %d", e.Path, e.PID)
	}
	return e.Path + " is held by another process"
}

// Lock is a held lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock on the file at path, creating the file if needed,
// and writes the process id into it. It does not wait: if another process
// holds the lock, it returns a *HeldError.
func Acquire(path string) (*Lock, error) { return acquire(path, syscall.LOCK_EX|syscall.LOCK_NB) }

// Wait takes the lock on the file at path as Acquire does, waiting for
// the process that holds it to release it.
func Wait(path string) (*Lock, error) { return acquire(path, syscall.LOCK_EX) }

func acquire(path string, how int) (*Lock, error) {
	// Release removes the file while it still holds the lock. A process
	// that opened the file before the removal may then lock the removed
	// file; it finds that the path now names another file, and tries again.
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), how)
		for errors.Is(err, syscall.EINTR) {
			err = syscall.Flock(int(f.Fd()), how)
		}
		if err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &HeldError{Path: path, PID: readPID(path)}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if same(f, path) {
			l := &Lock{f: f, path: path}
			if err := l.writePID(); err != nil {
				l.Release()
				return nil, err
			}
			return l, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: the file keeps being replaced", path)
}

// same reports whether the open file f is the file at path.
func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func (l *Lock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	return nil
}

// readPID returns the process id in the lock file at path, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 1 {
		return 0
	}
	return pid
}

// Release removes the lock file and releases the lock. It is safe to call
// more than once.
func (l *Lock) Release() {
	if l.f == nil {
		return
	}
	os.Remove(l.path)
	l.f.Close()
	l.f = nil
}
