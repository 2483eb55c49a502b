package ptfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"
)

// bytePickle pickles an OrderedDict of uint8 tensors of shape [1], tensor i
// on storage "i" of storageSize elements.
func bytePickle(t testing.TB, n, storageSize int) []byte {
	t.Helper()
	p := newPickler()
	p.out = append(p.out, opProto, 2)
	p.orderedDict()
	p.out = append(p.out, opMark)
	for i := range n {
		_ = p.string(fmt.Sprint("t", i))
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.out = append(p.out, opMark, opMark)
		_ = p.string("storage")
		p.global("torch", "ByteStorage")
		_ = p.string(fmt.Sprint(i))
		_ = p.string("cpu")
		p.int(int64(storageSize))
		p.out = append(p.out, opTuple, opBinPersID)
		p.int(0)
		_ = p.tuple(Tuple{int64(1)}, 0)
		_ = p.tuple(Tuple{int64(1)}, 0)
		p.out = append(p.out, opNewFalse)
		p.orderedDict()
		p.out = append(p.out, opTuple, opReduce)
	}
	p.out = append(p.out, opSetItems, opStop)
	return p.out
}

// sharedRecordArchive builds a zip archive holding data.pkl and one stored
// record, then a central directory in which data/0 to data/n-1 all name that
// one record.
func sharedRecordArchive(pkl, record []byte, n int) []byte {
	var b []byte
	type rec struct {
		offset   uint32
		crc      uint32
		size     uint32
		name     string
		isRecord bool
	}
	local := func(name string, data []byte) rec {
		r := rec{offset: uint32(len(b)), crc: crc32.ChecksumIEEE(data), size: uint32(len(data)), name: name}
		b = binary.LittleEndian.AppendUint32(b, 0x04034b50)
		b = binary.LittleEndian.AppendUint16(b, 20) // version needed
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)       // flags, method (stored), time, date
		b = binary.LittleEndian.AppendUint32(b, r.crc)
		b = binary.LittleEndian.AppendUint32(b, r.size)
		b = binary.LittleEndian.AppendUint32(b, r.size)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = append(b, name...)
		b = append(b, data...)
		return r
	}
	recs := []rec{local("archive/data.pkl", pkl)}
	shared := local("archive/data/0", record)
	for i := range n {
		r := shared
		r.name = fmt.Sprint("archive/data/", i)
		recs = append(recs, r)
	}
	cd := uint32(len(b))
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, 0x02014b50)
		b = binary.LittleEndian.AppendUint16(b, 20) // version made by
		b = binary.LittleEndian.AppendUint16(b, 20) // version needed
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)       // flags, method, time, date
		b = binary.LittleEndian.AppendUint32(b, r.crc)
		b = binary.LittleEndian.AppendUint32(b, r.size)
		b = binary.LittleEndian.AppendUint32(b, r.size)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(r.name)))
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // extra, comment, disk, internal and external attributes
		b = binary.LittleEndian.AppendUint32(b, r.offset)
		b = append(b, r.name...)
	}
	end := uint32(len(b))
	b = binary.LittleEndian.AppendUint32(b, 0x06054b50)
	b = append(b, 0, 0, 0, 0) // disk numbers
	b = binary.LittleEndian.AppendUint16(b, uint16(len(recs)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(recs)))
	b = binary.LittleEndian.AppendUint32(b, end-cd)
	b = binary.LittleEndian.AppendUint32(b, cd)
	return binary.LittleEndian.AppendUint16(b, 0)
}

// allocated returns the bytes that f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkReadRejects checks that Read and Load reject a file with an error
// containing want, allocating at most limit bytes.
func checkReadRejects(t *testing.T, file []byte, want string, limit uint64) {
	t.Helper()
	var err error
	if n := allocated(func() { _, err = readBytes(file) }); n > limit {
		t.Errorf("Read of a %d-byte file allocated %d bytes", len(file), n)
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Read: %v, want an error containing %q", err, want)
	}
	if n := allocated(func() { _, err = Load(bytes.NewReader(file), int64(len(file))) }); n > limit {
		t.Errorf("Load of a %d-byte file allocated %d bytes", len(file), n)
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load: %v, want an error containing %q", err, want)
	}
}

func TestReadSharedRecord(t *testing.T) {
	// 2000 storages of 256 KiB (500 MiB) that are one record of the file.
	const n, size = 2000, 256 << 10
	file := sharedRecordArchive(bytePickle(t, n, size), testBytes(1, size), n)
	checkReadRejects(t, file, "overlap", 64<<20)

	// One storage on its own is fine.
	file = sharedRecordArchive(bytePickle(t, 1, size), testBytes(1, size), 1)
	entries, err := readBytes(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !bytes.Equal(entries[0].Data, testBytes(1, size)[:1]) {
		t.Errorf("entries %+v", entries)
	}
}

func TestReadDeflatedStorageBudget(t *testing.T) {
	// A deflated storage record of 256 MiB of zeros, of which the file's
	// one tensor holds a single byte.
	const size = 256 << 20
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range []struct {
		name string
		data []byte
	}{{"archive/data.pkl", bytePickle(t, 1, size)}, {"archive/data/0", make([]byte, size)}} {
		w, err := zw.Create(r.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	checkReadRejects(t, buf.Bytes(), "exceed the limit", 64<<20)
}
