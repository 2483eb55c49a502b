package dataset

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrNoData is wrapped by the error Load returns for a folder or archive that
// holds nothing like CIFAR-10. Ensure downloads the data only for a folder
// without CIFAR-10 files or archives: it does not open archives, so an
// archive without CIFAR-10 inside is reported by Load, not replaced.
var ErrNoData = errors.New("no CIFAR-10 data")

// OfficialArchive is the file name of the official binary release. A data
// folder holding it is read from it even if other archives sit beside it.
const OfficialArchive = "cifar-10-binary.tar.gz"

// source is a located copy of CIFAR-10: a folder with the binary release or a
// class-folder tree (entries lists its relevant files), or an archive file
// (read, and its layout learned, only when needed).
type source struct {
	path    string // absolute path of the folder or archive
	archive bool
	entries []*entry // folder sources only
	size    int64    // archive sources only
	mtime   time.Time
}

// locate finds the data src refers to: an archive file, or a folder holding
// the binary release, a class-folder tree, or archives. Extracted files win
// over archives; among several archives OfficialArchive wins, and any other
// choice is refused as ambiguous.
func locate(src string) (*source, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("dataset: %s is neither a folder nor a regular file", abs)
		}
		return &source{path: abs, archive: true, size: fi.Size(), mtime: fi.ModTime()}, nil
	}
	entries, archives, skipped, err := scanFolder(abs)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if len(entries) > 0 {
		if _, err := checkLayout(entries, abs); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		return &source{path: abs, entries: entries}, nil
	}
	var pick string
	switch {
	case slices.Contains(archives, OfficialArchive):
		pick = OfficialArchive
	case len(archives) == 1:
		pick = archives[0]
	case len(archives) > 1:
		return nil, fmt.Errorf("dataset: %s holds several archives (%s); name the one to use", abs, strings.Join(archives, ", "))
	case skipped != nil:
		return nil, fmt.Errorf("dataset: %w in %s: want cifar-10-batches-bin/, train/ and test/ class folders, or a .tar/.tar.gz archive of either (a folder that may hold them cannot be read: %w)", ErrNoData, abs, skipped)
	default:
		return nil, fmt.Errorf("dataset: %w in %s: want cifar-10-batches-bin/, train/ and test/ class folders, or a .tar/.tar.gz archive of either", ErrNoData, abs)
	}
	return locate(filepath.Join(abs, pick))
}

// isArchiveName reports whether a file name looks like a tar archive.
func isArchiveName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".tar") || strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".tgz")
}

// layout names the format of a set of entries, for log messages.
type layout string

const (
	layoutBinary layout = "binary release"
	layoutImages layout = "class-folder images"
)

// checkLayout checks that entries (all classified, none ignored) form one
// complete copy of CIFAR-10 and says which layout. where names the folder or
// archive in errors.
func checkLayout(entries []*entry, where string) (layout, error) {
	var batches, images []*entry
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.name] {
			return "", fmt.Errorf("%s: %s appears twice", where, e.name)
		}
		seen[e.name] = true
		if e.kind == kindBatch {
			batches = append(batches, e)
		} else {
			images = append(images, e)
		}
	}
	if len(batches) > 0 && len(images) > 0 {
		return "", fmt.Errorf("%s: holds both the binary release (%s) and class-folder images (%s); point at one of them", where, batches[0].name, images[0].name)
	}
	for _, e := range entries {
		if e.dir != entries[0].dir {
			return "", fmt.Errorf("%s: CIFAR-10 files under two folders, %q and %q; keep one", where, entries[0].dir, e.dir)
		}
	}
	if len(batches) > 0 {
		var have [len(binaryBatches)]bool
		for _, e := range batches {
			have[e.batch] = true
		}
		for i, ok := range have {
			if !ok {
				return "", fmt.Errorf("%s: binary release incomplete: %s is missing", where, path.Join(entries[0].dir, binaryBatches[i]))
			}
		}
		return layoutBinary, nil
	}
	var count [2]int
	for _, e := range images {
		count[e.split]++
	}
	for s, n := range count {
		if n == 0 {
			return "", fmt.Errorf("%s: no %s images (want both train/ and test/ class folders)", where, splitNames[s])
		}
	}
	return layoutImages, nil
}

// assemble builds the training and test sets from a complete, checked list of
// entries, decoding images with the given number of goroutines.
func assemble(entries []*entry, lay layout, workers int) (train, test *Set, err error) {
	if lay == layoutBinary {
		sets := make([]*Set, len(binaryBatches))
		for _, e := range entries {
			data := e.data
			if data == nil {
				if data, err = readSmallFile(e.path, maxBatchFile); err != nil {
					return nil, nil, err
				}
			}
			if sets[e.batch], err = parseBinary(data, e.where); err != nil {
				return nil, nil, err
			}
			e.data = nil // let the raw bytes go
		}
		last := len(sets) - 1
		return concat(sets[:last]...), sets[last], nil
	}
	// Class-folder images: a deterministic order, split then class then name.
	slices.SortFunc(entries, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.split, b.split), cmp.Compare(a.label, b.label), strings.Compare(a.file, b.file))
	})
	var sets [2]*Set
	var parts [2][]*entry
	for _, e := range entries {
		parts[e.split] = append(parts[e.split], e)
	}
	for s, es := range parts {
		set := &Set{Images: make([]byte, len(es)*ImageSize), Labels: make([]uint8, len(es))}
		for i, e := range es {
			set.Labels[i] = e.label
		}
		if err := decodeImages(es, set, workers); err != nil {
			return nil, nil, err
		}
		sets[s] = set
	}
	for _, e := range entries {
		e.data = nil
	}
	return sets[trainSplit], sets[testSplit], nil
}

// read decodes the source into its training and test sets.
func (s *source) read(workers int) (train, test *Set, lay layout, err error) {
	entries := s.entries
	if s.archive {
		if entries, err = readArchive(s.path); err != nil {
			return nil, nil, "", fmt.Errorf("dataset: %w", err)
		}
		if len(entries) == 0 {
			return nil, nil, "", fmt.Errorf("dataset: %s: %w: want cifar-10-batches-bin/ or train/ and test/ class folders inside", s.path, ErrNoData)
		}
	}
	if lay, err = checkLayout(entries, s.path); err != nil {
		return nil, nil, "", fmt.Errorf("dataset: %w", err)
	}
	if train, test, err = assemble(entries, lay, workers); err != nil {
		return nil, nil, "", fmt.Errorf("dataset: %w", err)
	}
	for _, sp := range []struct {
		name string
		set  *Set
	}{{splitNames[trainSplit], train}, {splitNames[testSplit], test}} {
		if missing := sp.set.MissingClasses(); len(missing) > 0 {
			return nil, nil, "", fmt.Errorf("dataset: %s: %w: no %s images of %s", s.path, ErrMissingClasses, sp.name, strings.Join(missing, ", "))
		}
	}
	return train, test, lay, nil
}

// key identifies the exact content the source would decode to, without
// reading it: the cache format and decoder versions, the path, and the size
// and modification time of every file that matters.
func (s *source) key() [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "gotrain cifar10 cache v%d decoder v%d\n%s\n", cacheVersion, decoderVersion, s.path)
	if s.archive {
		fmt.Fprintf(h, "archive %d %d\n", s.size, s.mtime.UnixNano())
	}
	for _, e := range s.entries {
		fmt.Fprintf(h, "%q %d %d\n", e.name, e.size, e.mtime)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// cacheName is the file name of the source's cache: readable, and distinct
// for distinct source paths.
func (s *source) cacheName() string {
	stem := filepath.Base(s.path)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar"} {
		if strings.HasSuffix(strings.ToLower(stem), ext) {
			stem = stem[:len(stem)-len(ext)]
			break
		}
	}
	stem = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, stem)
	sum := sha256.Sum256([]byte(s.path))
	return fmt.Sprintf("cifar10-%s-%x.cache", strings.TrimLeft(stem, "."), sum[:4])
}
