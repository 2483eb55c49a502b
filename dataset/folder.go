package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// scanFolder walks root and returns the CIFAR-10 files it holds, classified
// and in lexical order, and the names of archives lying directly in root. It
// descends only as deep as the layouts reach (see layout.go), follows
// symbolic links to files but not to folders, and fails on files or folders
// inside a train/ or test/ folder that break the class-folder layout.
func scanFolder(root string) (entries []*entry, archives []string, err error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, err
	}
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		parts := strings.Split(name, "/")
		base := parts[len(parts)-1]
		if strings.HasPrefix(base, ".") || base == "__MACOSX" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		where := filepath.Join(root, rel)
		if d.IsDir() {
			if si := dirSplitIndex(parts); si >= 0 {
				if len(parts) > si+2 {
					return fmt.Errorf("%s: unexpected folder: want %s/<class>/<image>", where, parts[si])
				}
				return nil
			}
			if len(parts) >= 3 {
				return filepath.SkipDir
			}
			return nil
		}
		e, err := classify(name)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		archive := e == nil && len(parts) == 1 && isArchiveName(base)
		if e == nil && !archive {
			return nil
		}
		info, err := os.Stat(p) // follows a symbolic link
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			if e != nil {
				return fmt.Errorf("%s: not a regular file", where)
			}
			return nil
		}
		if archive {
			archives = append(archives, base)
			return nil
		}
		e.where, e.path = where, p
		e.size, e.mtime = info.Size(), info.ModTime().UnixNano()
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return entries, archives, nil
}

// dirSplitIndex is splitIndex for a folder: the position of a train/test
// component among the first two of parts (the folder itself included), or -1.
func dirSplitIndex(parts []string) int {
	for i := 0; i < len(parts) && i < 2; i++ {
		if splitOf(parts[i]) >= 0 {
			return i
		}
	}
	return -1
}
