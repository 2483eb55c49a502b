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

// readArchive reads the CIFAR-10 files out of a .tar or .tar.gz file (told
// apart by content) into memory, classified, in archive order. The whole
// stream is read, so that a damaged gzip trailer is noticed too.
func readArchive(name string) ([]*entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	var entries []*entry
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Before the first header, a bad header or a file shorter than
			// one (512 bytes) means this is no tar at all.
			if n == 0 && (errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return nil, fmt.Errorf("%s: not a .tar or .tar.gz archive: %w", name, err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		e, err := classify(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, hdr.Name, err)
		}
		if e == nil {
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
			return nil, fmt.Errorf("%s: %w", e.where, err)
		}
		entries = append(entries, e)
	}
	// Drain what follows the tar's end so that gzip checks its CRC and length.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}
