package ptfile

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRead checks that no file makes Read or Load panic. The seeds run as
// part of the normal test suite; explore with
// go test -fuzz=FuzzRead ./torch/ptfile.
func FuzzRead(f *testing.F) {
	f.Add(goFileBytes(f))
	f.Add(archiveBytes(f, viewPickle(view{"ShortStorage", "0", 6, 1, []int64{2, 2}, []int64{1, 3}}),
		map[string][]byte{"0": make([]byte, 12)}))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := readBytes(b)
		checkTyped(t, err)
		if err == nil {
			for _, e := range entries {
				if want, err := byteSize(e.Shape, e.DType.Size()); err != nil || want != len(e.Data) {
					t.Fatalf("entry %q: shape %v of %v with %d bytes", e.Name, e.Shape, e.DType, len(e.Data))
				}
			}
		}
		_, err = Load(bytes.NewReader(b), int64(len(b)))
		checkTyped(t, err)
		_, err = Detect(bytes.NewReader(b), int64(len(b)))
		checkTyped(t, err)
	})
}

// checkTyped fails unless err is nil, a *FormatError or an *UnsupportedError.
func checkTyped(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var ue *UnsupportedError
	if err != nil && !errors.As(err, &fe) && !errors.As(err, &ue) {
		t.Fatalf("%v (%T) is neither a *FormatError nor an *UnsupportedError", err, errors.Unwrap(err))
	}
}

// FuzzUnpickle feeds arbitrary data.pkl contents, inside a valid archive
// with one 64-byte storage "0", to the reader.
func FuzzUnpickle(f *testing.F) {
	f.Add(viewPickle(view{"FloatStorage", "0", 16, 0, []int64{4, 4}, []int64{1, 4}}))
	f.Add(viewPickle(view{"LongStorage", "0", 8, 7, []int64{}, []int64{}}))
	f.Add(viewPickle(view{"ByteStorage", "0", 64, 3, []int64{2, 3, 4}, []int64{0, 8, 2}}))
	f.Add(pickleOf(f, &Dict{Items: []Item{{"model", &Dict{}}, {"x", Tuple{int64(1), 2.5, "s", []byte("b"), nil, true}},
		{"l", &List{int64(1) << 40}}}}))
	f.Add(selfPairPickle(30))        // a tuple key of 2**30 leaves
	f.Add(bigKeyPickle(1<<10, 1<<8)) // one big integer key set 257 times
	storage := map[string][]byte{"0": testBytes(0, 64)}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		b := archiveBytes(t, pkl, storage)
		_, err := readBytes(b)
		checkTyped(t, err)
		_, err = Load(bytes.NewReader(b), int64(len(b)))
		checkTyped(t, err)
		_, err = Detect(bytes.NewReader(b), int64(len(b)))
		checkTyped(t, err)
	})
}
