package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleAfter is how long a temporary file must have gone unwritten before
// writeAtomic takes it for the leftover of a crashed run and removes it.
const staleAfter = time.Hour

// writeAtomic creates the file name with the content fill writes, so that
// name either keeps its old content or gets the complete new one, never a
// part: fill writes to a hidden temporary file in the same folder, which is
// flushed to disk and renamed over name only if fill succeeds. On failure
// the temporary file is removed. The folder is created if missing.
func writeAtomic(name string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	removeStale(dir, "."+base+".", ".tmp")
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir flushes a folder's entries (a rename) to disk. Some systems cannot
// sync a folder; that only weakens durability, so errors are ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// removeStale deletes files in dir named prefix*suffix that were last written
// more than staleAfter ago: temporary files of runs that crashed. Errors are
// ignored; a leftover costs disk space, nothing else.
func removeStale(dir, prefix, suffix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, suffix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
