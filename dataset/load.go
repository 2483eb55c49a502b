package dataset

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Load reads CIFAR-10 from src and returns its training and test sets.
//
// src is an archive file (.tar or .tar.gz, recognised by content) or a
// folder. Either may hold the official binary release
// (cifar-10-batches-bin/data_batch_{1..5}.bin and test_batch.bin) or
// class-folder images ({train,test}/<class>/*.{png,jpg,jpeg}, class names
// as in Classes), under at most one leading folder. A folder may instead
// hold archives: OfficialArchive if present, else a single .tar/.tar.gz/.tgz.
// Images are ordered by split, class, then file name; their labels are the
// class folders' indexes in Classes. A folder or archive without
// recognisable data gives an error wrapping ErrNoData.
//
// If cacheDir is not empty, the decoded images are cached in one file there
// (created, with cacheDir, on first use) named after the source and keyed by
// the size and modification time of its files, so later calls skip decoding
// until the source changes. A damaged or stale cache is rebuilt. A cache that
// cannot be written (a read-only folder) is reported to the logger and
// otherwise ignored. cacheDir may differ from the source's folder, which may
// be read-only. WithLimits keeps a subset of each split.
func Load(src, cacheDir string, opts ...Option) (train, test *Set, err error) {
	o := newOptions(opts)
	s, err := locate(src)
	if err != nil {
		return nil, nil, err
	}
	key := s.key()
	var cache string
	if cacheDir != "" {
		cache = filepath.Join(cacheDir, s.cacheName())
		start := time.Now()
		train, test, full, err := readCacheSized(cache, key, o.lim)
		switch {
		case err == nil:
			o.logf("dataset: read %d training and %d test images of %s from cache %s in %.1fs",
				train.Len(), test.Len(), s.path, cache, time.Since(start).Seconds())
			o.warnSizes(s.path, full[0], full[1])
			return train, test, nil
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, errStaleCache):
			o.logf("dataset: cache %s is out of date; rebuilding it", cache)
		default:
			o.logf("dataset: ignoring cache: %v; rebuilding it", err)
		}
	}
	o.logf("dataset: reading %s", s.path)
	start := time.Now()
	train, test, lay, err := s.read(o.workers)
	if err != nil {
		return nil, nil, err
	}
	o.logf("dataset: read %d training and %d test images (%s) in %.1fs",
		train.Len(), test.Len(), lay, time.Since(start).Seconds())
	o.warnSizes(s.path, train.Len(), test.Len())
	if cache != "" {
		if err := writeCache(cache, key, train, test); err != nil {
			o.logf("dataset: warning: cannot write cache, the next run decodes again: %v", err)
		} else {
			o.logf("dataset: cached decoded images in %s", cache)
		}
	}
	return train.Spread(o.lim.train), test.Spread(o.lim.test), nil
}

// Ensure makes sure dir holds CIFAR-10 that Load(dir, ...) can read: if it
// finds neither CIFAR-10 files nor archives there (see Load for what is
// recognised), it downloads the official binary release into dir, which it
// creates if needed; see Download. Data that is present but broken (an
// incomplete release, say) is reported, not replaced. Archives are not
// opened here: one that is damaged or holds no CIFAR-10 is left for Load to
// report.
func Ensure(ctx context.Context, dir string, opts ...Option) error {
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		if _, err := locate(dir); !errors.Is(err, ErrNoData) {
			return err // nil if there is data
		}
	}
	_, err := Download(ctx, dir, opts...)
	return err
}
