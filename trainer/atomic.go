package trainer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileAtomic writes a file through write and publishes it at path only
// when write, the flush and the fsync all succeeded.
//
// The data goes to a temporary file in the same directory as path (so that
// the final rename never crosses a file system), is synced to disk, and is
// then renamed over path. A reader therefore sees either the old file or
// the complete new one, never a half-written file, even if the process
// dies mid-way. On any error the temporary file is removed and an existing
// file at path is left untouched. The new file gets mode 0644.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if base == "" {
		return fmt.Errorf("write %q: path names a directory", path)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	published := false
	defer func() {
		// Also runs when write panics, so no temporary file is left behind.
		if !published {
			f.Close() // may already be closed; the error is irrelevant then
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
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
// file systems and platforms do not support syncing a directory, and the
// file itself is already complete on disk when this is called.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync() // see above: failure here cannot be acted upon
	d.Close()
}
