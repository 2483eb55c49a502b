package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// scanFolder walks root and returns the CIFAR-10 files it holds, classified
// and in lexical order, and the names of archives lying directly in root
// (whether or not they can be opened: that matters only for the one that is
// chosen). It descends only as deep as the layouts reach (see layout.go),
// follows symbolic links to files but not to folders (a train/ or test/
// folder, or a class folder, that is a link to a folder fails, naming the
// link and its target), and fails on files or folders inside a train/ or
// test/ folder that break the class-folder layout.
//
// A train/ or test/ folder, or a folder inside one, that cannot be read
// fails the scan: skipping it would silently lose images. Any other folder
// that cannot be read, such as a lost+found beside the data, is skipped, and
// the first such error is returned as skipped. (Skipping one that held the
// binary release loses nothing silently: the release is complete or
// refused.)
func scanFolder(root string) (entries []*entry, archives []string, skipped, err error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, nil, err
	}
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, walkErr error) error {
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		if walkErr != nil {
			if rel == "." || d == nil || !d.IsDir() {
				return walkErr
			}
			// The folder itself was seen (and accepted) before; its
			// contents cannot be listed.
			parts := strings.Split(filepath.ToSlash(rel), "/")
			if dirSplitIndex(parts) >= 0 {
				return walkErr
			}
			if skipped == nil {
				skipped = walkErr
			}
			return filepath.SkipDir
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
		if d.Type()&fs.ModeSymlink != 0 && dirSplitIndex(parts) >= 0 {
			if err := linkedFolder(where, p); err != nil {
				return err
			}
		}
		e, err := classify(name)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		archive := e == nil && len(parts) == 1 && isArchiveName(base)
		if e == nil && !archive {
			return nil
		}
		if archive {
			// Whether it can be opened matters only if it is chosen,
			// which locate finds out.
			if info, err := os.Stat(p); err != nil || info.Mode().IsRegular() {
				archives = append(archives, base)
			}
			return nil
		}
		info, err := os.Stat(p) // follows a symbolic link
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", where)
		}
		e.where, e.path = where, p
		e.size, e.mtime = info.Size(), info.ModTime().UnixNano()
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return entries, archives, skipped, nil
}

// linkedFolder returns the error for a train/ or test/ folder, or a class
// folder in one, that is the symbolic link where (p in the resolved tree)
// to a folder, naming the link and its target; nil when p is not a link to
// a folder.
func linkedFolder(where, p string) error {
	info, err := os.Stat(p)
	if err != nil || !info.IsDir() {
		return nil
	}
	target, err := os.Readlink(p)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(where), target)
	}
	return fmt.Errorf("%s is a symbolic link to the folder %s, and links to folders are not followed: put the folder itself there (or link its files one by one)", where, target)
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
