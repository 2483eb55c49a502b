package dataset

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// This file decides, from a path alone, what a file in a data folder or
// archive is. Two layouts are understood:
//
//	[top/]cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin
//	[top/]{train,test}/<class>/<name>.{png,jpg,jpeg}
//
// where top is at most one leading folder. Hidden files and folders (and
// macOS's __MACOSX) are skipped; files outside both layouts (README, the
// batches.meta.txt of the official release, archives, caches) are ignored.
// Inside train/ and test/ the layout is strict: every file must be an image in
// a folder named after one of Classes.

// Split indexes.
const (
	trainSplit = 0
	testSplit  = 1
)

var splitNames = [2]string{"train", "test"}

// binaryBatches lists the official binary release's file names, in reading
// order: five training batches, then the test batch.
var binaryBatches = [6]string{
	"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
	"data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
}

// kind tells what a file is.
type kind int

const (
	kindIgnore kind = iota
	kindBatch       // a file of the binary release
	kindImage       // an image of a class-folder tree
)

// entry is one relevant file of a source.
type entry struct {
	name  string // slash-separated path relative to the source root or archive
	where string // how errors name the file: an OS path, or "archive: name"
	kind  kind
	dir   string // folder holding the layout: the batch folder, or [top/] of train/test
	split int
	batch int // kindBatch: index into binaryBatches
	label uint8
	file  string // base name, the sort key inside a class folder

	path  string // file on disk (folder sources)
	data  []byte // contents (archive sources)
	size  int64
	mtime int64 // UnixNano (folder sources)
}

// classify tells what the file at slash-separated path name is. It returns
// a nil entry for files to ignore and an error for files that sit inside a
// train/ or test/ folder but break the layout.
func classify(name string) (*entry, error) {
	name = strings.TrimLeft(path.Clean("/"+name), "/")
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if strings.HasPrefix(p, ".") || p == "__MACOSX" {
			return nil, nil
		}
	}
	base := parts[len(parts)-1]
	si := splitIndex(parts)
	if si < 0 {
		for i, b := range binaryBatches {
			if base == b && len(parts) <= 3 {
				e := &entry{name: name, kind: kindBatch, dir: path.Dir(name), batch: i, split: trainSplit}
				if i == len(binaryBatches)-1 {
					e.split = testSplit
				}
				return e, nil
			}
		}
		return nil, nil
	}
	rest := parts[si+1:]
	if len(rest) != 2 {
		return nil, fmt.Errorf("unexpected file: want %s/<class>/<image>", parts[si])
	}
	label := classIndex(rest[0])
	if label < 0 {
		return nil, fmt.Errorf("unknown class folder %q (want one of %s)", rest[0], strings.Join(Classes, ", "))
	}
	if !isImageName(base) {
		return nil, fmt.Errorf("unsupported file type %q (want .png, .jpg or .jpeg)", path.Ext(base))
	}
	return &entry{
		name: name, kind: kindImage, dir: path.Join(parts[:si]...),
		split: splitOf(parts[si]), label: uint8(label), file: base,
	}, nil
}

// splitIndex returns the position of the train/test component in a path that
// has at most one folder before it, or -1.
func splitIndex(parts []string) int {
	for i := 0; i < len(parts)-1 && i < 2; i++ {
		if splitOf(parts[i]) >= 0 {
			return i
		}
	}
	return -1
}

func splitOf(s string) int {
	for i, n := range splitNames {
		if s == n {
			return i
		}
	}
	return -1
}

func classIndex(s string) int {
	for i, c := range Classes {
		if s == c {
			return i
		}
	}
	return -1
}

func isImageName(s string) bool {
	switch strings.ToLower(path.Ext(s)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// decode decodes the image of e into dst.
func (e *entry) decode(dst []byte) error {
	data := e.data
	if data == nil {
		var err error
		if data, err = readSmallFile(e.path, maxImageFile); err != nil {
			return err // already names the file
		}
	}
	if err := DecodeImage(data, dst); err != nil {
		return fmt.Errorf("%s: %w", e.where, err)
	}
	return nil
}

// readSmallFile reads the file at name, refusing files over limit bytes.
func readSmallFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes is too large for a CIFAR-10 file", name, fi.Size())
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}
