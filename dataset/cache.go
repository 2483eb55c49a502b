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
// key. It returns an error wrapping fs.ErrNotExist if there is no cache,
// errStaleCache if the source changed, and another error if the file is
// damaged.
func readCache(name string, key [32]byte) (train, test *Set, err error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	if len(data) < cacheHeader+4 || string(data[:8]) != cacheMagic {
		return nil, nil, fmt.Errorf("%s: not a dataset cache", name)
	}
	le := binary.LittleEndian
	if v, d := le.Uint32(data[8:]), le.Uint32(data[12:]); v != cacheVersion || d != decoderVersion {
		return nil, nil, fmt.Errorf("%s: made by another version (format %d, decoder %d)", name, v, d)
	}
	if !bytes.Equal(data[16:48], key[:]) {
		return nil, nil, fmt.Errorf("%s: %w", name, errStaleCache)
	}
	n, m := le.Uint64(data[48:]), le.Uint64(data[56:])
	const maxImages = 1 << 24
	want := uint64(cacheHeader) + (n+m)*RecordSize + 4
	if n > maxImages || m > maxImages || uint64(len(data)) != want {
		return nil, nil, fmt.Errorf("%s: %d bytes, want %d for %d+%d images (truncated?)", name, len(data), want, n, m)
	}
	body := data[:len(data)-4]
	if got, sum := crc32.Checksum(body, crcTable), le.Uint32(data[len(data)-4:]); got != sum {
		return nil, nil, fmt.Errorf("%s: checksum mismatch (damaged)", name)
	}
	// The sets alias the file's buffer; full slice expressions keep an append
	// to one from overwriting the other.
	p := uint64(cacheHeader)
	cut := func(k uint64) []byte { b := data[p : p+k : p+k]; p += k; return b }
	train, test = &Set{}, &Set{}
	train.Labels, test.Labels = cut(n), cut(m)
	train.Images, test.Images = cut(n*ImageSize), cut(m*ImageSize)
	for _, s := range []*Set{train, test} {
		if err := s.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return train, test, nil
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
