package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"gotrain/internal/atomicfile"
)

// The cache holds both decoded splits of one source in one file:
//
//	offset  size  content
//	0       8     magic "CIFAR10C"
//	8       4     cacheVersion, little endian
//	12      4     decoderVersion
//	16      32    source key (see source.key)
//	48      8     number of training images N, little endian
//	56      8     number of test images M
//	64      N     training labels, then M test labels
//	...     ...   N*ImageSize training image bytes, then M*ImageSize test bytes
//	end-4   4     CRC-32C (Castagnoli) of everything before it
//
// A file is trusted only if magic, versions and key match, its length is
// exactly what N and M imply, and the checksum holds.
const (
	cacheMagic  = "CIFAR10C"
	cacheHeader = 64
	// cacheVersion changes whenever the file layout changes.
	cacheVersion = 1
	// decoderVersion changes whenever decoding may give different pixels
	// (for example a change to the JPEG colour conversion), so that old
	// caches are rebuilt.
	decoderVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errStaleCache tells that a cache is intact but was built from other data.
var errStaleCache = errors.New("built from other data (the source changed)")

// readCache loads the sets cached in file name for the source with the given
// key, keeping only the images that lim selects (see Spread). It returns an
// error wrapping fs.ErrNotExist if there is no cache, errStaleCache if the
// source changed, and another error if the file is damaged. The whole file
// is read and checked either way, but only the kept images are held, so a
// small subset costs little memory.
func readCache(name string, key [32]byte, lim limits) (train, test *Set, err error) {
	train, test, _, err = readCacheSized(name, key, lim)
	return train, test, err
}

// readCacheSized is readCache that also returns the sizes of the full cached
// splits, which lim may have cut.
func readCacheSized(name string, key [32]byte, lim limits) (train, test *Set, full [2]int, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, full, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, full, err
	}
	crc := crc32.New(crcTable)
	r := io.TeeReader(bufio.NewReaderSize(f, 1<<20), crc)
	var hdr [cacheHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:8]) != cacheMagic {
		return nil, nil, full, fmt.Errorf("%s: not a dataset cache", name)
	}
	le := binary.LittleEndian
	if v, d := le.Uint32(hdr[8:]), le.Uint32(hdr[12:]); v != cacheVersion || d != decoderVersion {
		return nil, nil, full, fmt.Errorf("%s: made by another version (format %d, decoder %d)", name, v, d)
	}
	if !bytes.Equal(hdr[16:48], key[:]) {
		return nil, nil, full, fmt.Errorf("%s: %w", name, errStaleCache)
	}
	n, m := le.Uint64(hdr[48:]), le.Uint64(hdr[56:])
	const maxImages = 1 << 24
	want := uint64(cacheHeader) + (n+m)*RecordSize + 4
	if n > maxImages || m > maxImages || uint64(st.Size()) != want {
		return nil, nil, full, fmt.Errorf("%s: %d bytes, want %d for %d+%d images (truncated?)", name, st.Size(), want, n, m)
	}
	labels := make([]byte, n+m)
	if _, err := io.ReadFull(r, labels); err != nil {
		return nil, nil, full, fmt.Errorf("%s: %w", name, err)
	}
	train = &Set{Labels: spreadLabels(labels[:n], lim.train)}
	test = &Set{Labels: spreadLabels(labels[n:], lim.test)}
	if train.Images, err = readImages(r, int(n), lim.train); err == nil {
		test.Images, err = readImages(r, int(m), lim.test)
	}
	if err != nil {
		return nil, nil, full, fmt.Errorf("%s: %w", name, err)
	}
	sum := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return nil, nil, full, fmt.Errorf("%s: %w", name, err)
	}
	if le.Uint32(tail[:]) != sum {
		return nil, nil, full, fmt.Errorf("%s: checksum mismatch (damaged)", name)
	}
	for _, s := range []*Set{train, test} {
		if err := s.Validate(); err != nil {
			return nil, nil, full, fmt.Errorf("%s: %w", name, err)
		}
	}
	return train, test, [2]int{int(n), int(m)}, nil
}

// readImages reads the n images that follow in r and returns those that a
// limit of keep selects: all of them in one read, or one at a time.
func readImages(r io.Reader, n, keep int) ([]byte, error) {
	if keep == none {
		_, err := io.CopyN(io.Discard, r, int64(n)*ImageSize)
		return nil, err
	}
	if keep <= 0 || keep >= n {
		b := make([]byte, n*ImageSize)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	out := make([]byte, 0, keep*ImageSize)
	img := make([]byte, ImageSize)
	next := 0 // the next of the keep images to take
	for j := range n {
		if _, err := io.ReadFull(r, img); err != nil {
			return nil, err
		}
		if next < keep && spreadIndex(next, n, keep) == j {
			out = append(out, img...)
			next++
		}
	}
	return out, nil
}

// writeCache stores train and test in file name under key, atomically.
func writeCache(name string, key [32]byte, train, test *Set) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(name, func(f io.Writer) error {
		crc := crc32.New(crcTable)
		w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
		var hdr [cacheHeader]byte
		le := binary.LittleEndian
		copy(hdr[:], cacheMagic)
		le.PutUint32(hdr[8:], cacheVersion)
		le.PutUint32(hdr[12:], decoderVersion)
		copy(hdr[16:], key[:])
		le.PutUint64(hdr[48:], uint64(train.Len()))
		le.PutUint64(hdr[56:], uint64(test.Len()))
		for _, b := range [][]byte{hdr[:], train.Labels, test.Labels, train.Images, test.Images} {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return binary.Write(f, le, crc.Sum32())
	})
}
