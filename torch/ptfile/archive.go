package ptfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// archive is an opened torch.save zip file.
type archive struct {
	r      io.ReaderAt
	size   int64
	prefix string // the top folder plus "/", e.g. "archive/"
	files  map[string]*zip.File
}

// openArchive checks that r holds a torch.save zip archive and indexes it.
func openArchive(r io.ReaderAt, size int64) (*archive, error) {
	a, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	if a.isTorchScript() {
		return nil, unsupported("TorchScript archive (torch.jit.save) is not supported; save a state dict with torch.save")
	}
	if err := a.checkPickled(); err != nil {
		return nil, err
	}
	return a, nil
}

// openZip checks that r holds a zip archive whose records sit in one top
// folder, as torch.save and torch.jit.save write them, and indexes it.
func openZip(r io.ReaderAt, size int64) (*archive, error) {
	var magic [8]byte
	n, _ := r.ReadAt(magic[:], 0)
	switch {
	case n == 0:
		return nil, errors.New("empty file")
	case magic[0] == opProto:
		return nil, unsupported("legacy non-zip torch.save format (PyTorch before 1.6, or _use_new_zipfile_serialization=False) is not supported")
	case n == len(magic) && string(magic[:]) == "PYTORCH1":
		return nil, unsupported("PyTorch preview-release archive format is not supported")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("not a torch.save zip archive: %w", err)
	}
	if len(zr.File) == 0 {
		return nil, errors.New("zip archive has no records")
	}
	// Like PyTorch, take the top folder from the first record's name.
	first := zr.File[0].Name
	i := strings.IndexByte(first, '/')
	if i < 0 {
		return nil, fmt.Errorf("zip record %q is not in a folder; not a torch.save archive", first)
	}
	a := &archive{r: r, size: size, prefix: first[:i+1], files: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		if _, dup := a.files[f.Name]; !dup {
			a.files[f.Name] = f
		}
	}
	return a, nil
}

// isTorchScript reports whether the archive holds TorchScript code and
// constants (torch.jit.save) rather than only pickled data (torch.save).
func (a *archive) isTorchScript() bool {
	if _, ok := a.files[a.prefix+"constants.pkl"]; ok {
		return true
	}
	for name := range a.files {
		if strings.HasPrefix(name, a.prefix+"code/") {
			return true
		}
	}
	return false
}

// checkPickled checks that the archive has the records of a torch.save
// file that this package reads: data.pkl, and little-endian storages.
func (a *archive) checkPickled() error {
	if _, ok := a.files[a.prefix+"data.pkl"]; !ok {
		return fmt.Errorf("no %sdata.pkl record; not a torch.save archive", a.prefix)
	}
	if f, ok := a.files[a.prefix+"byteorder"]; ok {
		b, err := a.read(f)
		if err != nil {
			return err
		}
		if order := string(bytes.TrimSpace(b)); order != "little" {
			return unsupported("byte order %q is not supported (only little-endian files)", order)
		}
	}
	return nil
}

// record returns the contents of the record with the given name inside the
// top folder, or nil and false if there is none.
func (a *archive) record(name string) ([]byte, bool, error) {
	f, ok := a.files[a.prefix+name]
	if !ok {
		return nil, false, nil
	}
	b, err := a.read(f)
	return b, true, err
}

// read returns the uncompressed contents of a record, checking its CRC-32.
func (a *archive) read(f *zip.File) ([]byte, error) {
	n := f.UncompressedSize64
	if f.Method != zip.Store {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", f.Name, err)
		}
		defer rc.Close()
		if n > uint64(a.size)*1032+1024 { // beyond deflate's best ratio
			return nil, fmt.Errorf("record %s claims %d bytes, more than the archive can hold", f.Name, n)
		}
		// io.ReadAll grows its buffer as data arrives, so a lying header
		// cannot make it allocate more than the data really holds.
		b, err := io.ReadAll(io.LimitReader(rc, int64(n)+1))
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", f.Name, err)
		}
		if uint64(len(b)) != n {
			return nil, fmt.Errorf("record %s holds %d bytes, its header says %d", f.Name, len(b), n)
		}
		return b, nil
	}
	if f.CompressedSize64 != n {
		return nil, fmt.Errorf("stored record %s has compressed size %d but size %d", f.Name, f.CompressedSize64, n)
	}
	off, err := f.DataOffset()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	if off < 0 || off > a.size || n > uint64(a.size-off) {
		return nil, fmt.Errorf("record %s (%d bytes at offset %d) extends past the end of the %d-byte file; truncated?", f.Name, n, off, a.size)
	}
	b := make([]byte, n)
	if got, err := a.r.ReadAt(b, off); got != len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	// PyTorch may be told not to compute checksums, leaving them zero.
	if f.CRC32 != 0 && crc32.ChecksumIEEE(b) != f.CRC32 {
		return nil, fmt.Errorf("record %s: checksum mismatch; the file is corrupt", f.Name)
	}
	return b, nil
}
