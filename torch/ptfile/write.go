package ptfile

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	"gotrain/internal/atomicfile"
)

// archiveName is the top folder of written archives, as torch.save uses
// when writing to a buffer.
const archiveName = "archive/"

// alignment is the byte alignment of record data in written archives, as in
// PyTorch's writer; torch.load(mmap=True) relies on it.
const alignment = 64

// formatVersion is the archive format version PyTorch 1.13 and 2.x write.
const formatVersion = "3\n"

// Write writes entries to w as a torch.save file holding a
// collections.OrderedDict from each entry's Name to its tensor, in the given
// order, as torch.save(model.state_dict()) would (without the _metadata
// attribute). Names must be unique.
func Write(w io.Writer, entries []Entry) error {
	d, err := entryDict(entries)
	if err != nil {
		return fmt.Errorf("ptfile: %w", err)
	}
	return Save(w, d)
}

// WriteFile writes entries to path as Write does. It writes a temporary file
// in the same folder and renames it to path once complete, so path never
// holds a partial file.
func WriteFile(path string, entries []Entry) error {
	d, err := entryDict(entries)
	if err != nil {
		return fmt.Errorf("ptfile: %s: %w", path, err)
	}
	return SaveFile(path, d)
}

// entryDict builds the OrderedDict that Write saves.
func entryDict(entries []Entry) (*Dict, error) {
	d := &Dict{Ordered: true, Items: make([]Item, len(entries))}
	seen := make(map[string]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		if seen[e.Name] {
			return nil, fmt.Errorf("duplicate entry name %q", e.Name)
		}
		seen[e.Name] = true
		d.Items[i] = Item{Key: e.Name, Value: e}
	}
	return d, nil
}

// Save writes obj to w as a torch.save file. obj is a tree of the values
// listed in the package documentation. The Name of tensors is ignored; a
// *Entry that occurs several times is saved once and loads as one tensor
// object, in Python and with Load.
//
// The file only uses pickle opcodes and globals that
// torch.load(weights_only=True) accepts.
func Save(w io.Writer, obj any) error {
	if err := save(w, obj); err != nil {
		return fmt.Errorf("ptfile: %w", err)
	}
	return nil
}

// SaveFile writes obj to path as Save does, through a temporary file in the
// same folder that is renamed to path once complete.
func SaveFile(path string, obj any) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return save(w, obj) }); err != nil {
		return fmt.Errorf("ptfile: %s: %w", path, err)
	}
	return nil
}

func save(w io.Writer, obj any) error {
	p := newPickler()
	if err := p.dump(obj); err != nil {
		return err
	}
	aw := newArchiveWriter(w)
	if err := aw.add("data.pkl", p.out); err != nil {
		return err
	}
	if err := aw.add("byteorder", []byte("little")); err != nil {
		return err
	}
	for i, e := range p.storages {
		if err := aw.add("data/"+strconv.Itoa(i), e.Data); err != nil {
			return err
		}
	}
	if err := aw.add("version", []byte(formatVersion)); err != nil {
		return err
	}
	return aw.close()
}

// archiveWriter writes a zip archive of stored (uncompressed) records whose
// data starts on 64-byte boundaries.
type archiveWriter struct {
	cw  *countingWriter
	zw  *zip.Writer
	pad []byte
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func newArchiveWriter(w io.Writer) *archiveWriter {
	cw := &countingWriter{w: w}
	return &archiveWriter{cw: cw, zw: zip.NewWriter(cw)}
}

// localHeaderLen is the fixed size of a zip local file header.
const localHeaderLen = 30

// add writes one record named archiveName+name.
func (a *archiveWriter) add(name string, data []byte) error {
	name = archiveName + name
	// With the previous record complete and flushed, the counter is the
	// offset of this record's local header. Pad the header's extra field
	// (as PyTorch does, with an "FB" field) so the data lands aligned.
	if err := a.zw.Flush(); err != nil {
		return err
	}
	start := a.cw.n + localHeaderLen + int64(len(name)) + 4
	pad := int((alignment - start%alignment) % alignment)
	extra := make([]byte, 4+pad)
	extra[0], extra[1] = 'F', 'B'
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	version := uint16(20)
	if uint64(len(data)) >= 1<<32-1 || a.cw.n >= 1<<32-1 {
		version = 45 // zip64
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
		CreatorVersion:     version,
		ReaderVersion:      version,
	}
	fw, err := a.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("zip record %s: %w", name, err)
	}
	if _, err := fw.Write(data); err != nil {
		return fmt.Errorf("zip record %s: %w", name, err)
	}
	return nil
}

func (a *archiveWriter) close() error {
	if err := a.zw.Close(); err != nil {
		return fmt.Errorf("zip central directory: %w", err)
	}
	return nil
}
