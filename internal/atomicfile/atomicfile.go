// Package atomicfile writes files that appear whole or not at all: the data
// goes to a hidden temporary file in the destination's folder, which is
// synced and renamed over the destination only when complete.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleAfter is how long a temporary file must have gone unwritten before
// Write takes it for the leftover of a crashed process and removes it.
const staleAfter = time.Hour

// Write creates or replaces the file at path with what fill writes. A
// reader sees either the old file or the complete new one, even if the
// process dies mid-way. On any error (or a panic in fill) the temporary file
// is removed and an existing file at path is left untouched. The new file
// gets mode 0644; the folder must exist.
func Write(path string, fill func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if base == "" {
		return fmt.Errorf("write %q: path names a directory", path)
	}
	if dir == "" {
		dir = "."
	}
	prefix := "." + base + ".tmp-"
	removeStale(dir, prefix)
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	published := false
	defer func() {
		// Also runs when fill panics, so no temporary file is left behind.
		if !published {
			f.Close() // may already be closed; the error is irrelevant then
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	published = true
	syncDir(dir)
	return nil
}

// syncDir makes a completed rename in dir durable. It is best effort: some
// file systems cannot sync a folder, and the file itself is already on disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// RemoveTemps deletes every temporary file that Write leaves in dir when
// its process is killed mid-way, whatever its age. Only a caller that knows
// no other process is writing into dir (one that holds a lock on it) may
// call it; others rely on Write's removal of temporaries older than an hour.
func RemoveTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type().IsRegular() && isTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// isTemp reports whether name is that of a temporary file of Write
// (".NAME.tmp-RANDOM").
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// removeStale deletes files in dir whose names start with prefix and that
// were last written more than staleAfter ago: temporary files of processes
// that crashed. Errors are ignored; a leftover costs disk space, nothing else.
func removeStale(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
