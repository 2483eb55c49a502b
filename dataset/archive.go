package dataset

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// tarBlock is the size of a tar block; the end of an archive is marked by
// two blocks of zero bytes.
const tarBlock = 512

// readArchive reads the CIFAR-10 files out of a .tar or .tar.gz file (told
// apart by content) into memory, classified, in archive order. The whole
// stream is read, so that a damaged gzip trailer is noticed too, and an
// archive that ends without its end-of-archive marker is refused as
// truncated.
func readArchive(name string) ([]*entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if startsGzip(br) {
		gz, err := newGzipStream(br)
		if err != nil {
			return nil, archiveError(name, err)
		}
		defer gz.Close()
		r = gz
	}
	zr := &zeroTailReader{r: r}
	tr := tar.NewReader(zr)
	var entries []*entry
	for n := 0; ; n++ {
		// Every entry has been read to its end, so what Next reads from
		// here on is the entry's padding and the next header blocks.
		zr.zeros = 0
		hdr, err := tr.Next()
		if err == io.EOF {
			// The tar reader also stops without error where the stream ends
			// in place of a header or inside an entry's padding. Only a zero
			// block read after the last entry (GNU tar and Python's tarfile
			// accept one as well as the standard two) shows that the archive
			// is complete; an empty file is no archive of CIFAR-10 but not
			// a truncated one.
			if zr.total > 0 && zr.zeros < tarBlock {
				return nil, fmt.Errorf("%s: archive is truncated: it ends after %d entries without the end-of-archive marker", name, n)
			}
			break
		}
		if err != nil {
			// Before the first header, a bad header or a (complete) stream
			// shorter than one block means this is no tar at all.
			if n == 0 && (errors.Is(err, tar.ErrHeader) || (errors.Is(err, io.ErrUnexpectedEOF) && !zr.truncated)) {
				return nil, fmt.Errorf("%s: not a .tar or .tar.gz archive: %w", name, err)
			}
			return nil, archiveError(name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		e, err := classify(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, hdr.Name, err)
		}
		if e == nil {
			// Read past it here rather than in Next, so that a file of
			// zeros is not taken for the end-of-archive marker.
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return nil, archiveError(name+": "+hdr.Name, err)
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg { // the reader turns the old TypeRegA into TypeReg
			// Skipping it would silently lose an image or a batch.
			return nil, fmt.Errorf("%s: %s: not a regular file (a link?); only plain files are read from archives", name, hdr.Name)
		}
		e.where = name + ": " + e.name
		limit := int64(maxImageFile)
		if e.kind == kindBatch {
			limit = maxBatchFile
		}
		if hdr.Size > limit {
			return nil, fmt.Errorf("%s: %d bytes is too large for a CIFAR-10 file", e.where, hdr.Size)
		}
		e.size = hdr.Size
		e.data = make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, e.data); err != nil {
			return nil, archiveError(e.where, err)
		}
		entries = append(entries, e)
	}
	// Drain what follows the tar's end so that gzip checks its CRC and length
	// and what follows the compressed data.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, archiveError(name, err)
	}
	return entries, nil
}

// archiveError wraps an error met while reading the archive or archive
// member named by where, telling a stream that ends too early for what it
// was reading as a truncated or damaged archive.
func archiveError(where string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: archive is truncated or damaged: %w", where, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// zeroTailReader passes reads through to r, keeping count of what it reads.
type zeroTailReader struct {
	r         io.Reader
	total     int64 // bytes read
	zeros     int64 // zero bytes that end what was read since zeros was set to 0
	truncated bool  // r ended in the middle of its data (io.ErrUnexpectedEOF)
}

func (z *zeroTailReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	z.total += int64(n)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		z.zeros += int64(n)
	} else {
		z.zeros = int64(n - i)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		z.truncated = true
	}
	return n, err
}

// gzipStream decompresses a gzip file the way gzip -d does: one member
// after another, then zero bytes only (the padding that tape drives and
// some tools add). Anything else after the last member is an error.
type gzipStream struct {
	br *bufio.Reader
	gz *gzip.Reader
}

// errTrailingGarbage is returned for non-zero bytes after gzip data.
var errTrailingGarbage = errors.New("gzip: unexpected data after the compressed stream")

func newGzipStream(br *bufio.Reader) (*gzipStream, error) {
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	gz.Multistream(false)
	return &gzipStream{br: br, gz: gz}, nil
}

func (s *gzipStream) Read(p []byte) (int, error) {
	for {
		n, err := s.gz.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil // the gzip reader repeats io.EOF on the next call
		}
		// The member ended; the bufio.Reader, an io.ByteReader, was read
		// no further than its end.
		if startsGzip(s.br) {
			if err := s.gz.Reset(s.br); err != nil {
				return 0, err
			}
			s.gz.Multistream(false)
			continue
		}
		if err := onlyZeros(s.br); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
}

// startsGzip reports whether what br reads next starts with the gzip magic
// number.
func startsGzip(br *bufio.Reader) bool {
	magic, _ := br.Peek(2)
	return len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// Close closes the gzip reader.
func (s *gzipStream) Close() error { return s.gz.Close() }

// onlyZeros reads r to its end and fails unless all it holds is zero bytes.
func onlyZeros(r *bufio.Reader) error {
	for {
		b, err := r.Peek(r.Size())
		for _, c := range b {
			if c != 0 {
				return errTrailingGarbage
			}
		}
		r.Discard(len(b)) // cannot fail: the bytes are buffered
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
