package ptfile

import (
	"archive/zip"
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	entries := goEntries()
	var buf bytes.Buffer
	if err := Write(&buf, entries); err != nil {
		t.Fatal(err)
	}
	got, err := readBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Fatalf("read %d entries, wrote %d", len(got), len(entries))
	}
	for i, e := range entries {
		g := got[i]
		if g.Name != e.Name || g.DType != e.DType || !bytes.Equal(g.Data, e.Data) || len(g.Shape) != len(e.Shape) {
			t.Errorf("entry %d: read %s %v %v (%d bytes), wrote %s %v %v (%d bytes)",
				i, g.Name, g.DType, g.Shape, len(g.Data), e.Name, e.DType, e.Shape, len(e.Data))
			continue
		}
		for j := range e.Shape {
			if g.Shape[j] != e.Shape[j] {
				t.Errorf("entry %q: shape %v, want %v", e.Name, g.Shape, e.Shape)
			}
		}
	}
}

func TestWriteLayout(t *testing.T) {
	b := goFileBytes(t)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s: data at offset %d, not 64-byte aligned", f.Name, off)
		}
		rc, err := f.Open() // checks the CRC-32
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
		switch f.Name {
		case "archive/byteorder":
			if string(data) != "little" {
				t.Errorf("byteorder %q", data)
			}
		case "archive/version":
			if string(data) != "3\n" {
				t.Errorf("version %q", data)
			}
		}
	}
	want := []string{"archive/data.pkl", "archive/byteorder"}
	for i := range goEntries() {
		want = append(want, "archive/data/"+strconv.Itoa(i))
	}
	want = append(want, "archive/version")
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("records %v, want %v", names, want)
	}
}

func TestSaveSharesStorageOfSameTensor(t *testing.T) {
	w := &Entry{DType: Float32, Shape: []int64{2}, Data: float32Bytes(1, 2)}
	var buf bytes.Buffer
	if err := Save(&buf, &Dict{Items: []Item{{"a", w}, {"b", w}, {"c", *w}}}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	storages := 0
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "archive/data/") {
			storages++
		}
	}
	if storages != 2 {
		t.Errorf("%d storage records, want 2 (a and b share one)", storages)
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"short data", []Entry{{Name: "w", DType: Float32, Shape: []int64{2, 2}, Data: make([]byte, 15)}},
			`tensor "w": shape [2 2] of float32 needs 16 bytes of data, have 15`},
		{"scalar without data", []Entry{{Name: "n", DType: Int64}}, "needs 8 bytes of data, have 0"},
		{"bad dtype", []Entry{{Name: "w", DType: 0, Data: []byte{1}}}, "invalid dtype DType(0)"},
		{"negative dim", []Entry{{Name: "w", DType: Uint8, Shape: []int64{-1}}}, "negative dimension"},
		{"huge shape", []Entry{{Name: "w", DType: Uint8, Shape: []int64{math.MaxInt64, 2}}}, "too many elements"},
		{"bool value", []Entry{{Name: "m", DType: Bool, Shape: []int64{2}, Data: []byte{1, 2}}}, "bool element 1 is 2"},
		{"duplicate", []Entry{{Name: "a", DType: Uint8, Shape: []int64{1}, Data: []byte{1}},
			{Name: "a", DType: Uint8, Shape: []int64{1}, Data: []byte{1}}}, `duplicate entry name "a"`},
		{"bad utf-8", []Entry{{Name: "\xff", DType: Uint8, Shape: []int64{1}, Data: []byte{1}}}, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(io.Discard, tc.entries)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := Save(io.Discard, map[string]int{}); err == nil || !strings.Contains(err.Error(), "cannot save a value of type map[string]int") {
		t.Errorf("Save of a map: %v", err)
	}
	if err := Save(io.Discard, &Dict{State: &Dict{}}); err == nil || !strings.Contains(err.Error(), "only supported on an OrderedDict") {
		t.Errorf("Save of a dict with state: %v", err)
	}
	loop := &List{}
	*loop = append(*loop, loop)
	if err := Save(io.Discard, loop); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("Save of a list containing itself: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.pt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the old file and no temporary behind.
	bad := []Entry{{Name: "w", DType: Float32, Shape: []int64{3}, Data: make([]byte, 4)}}
	if err := WriteFile(path, bad); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile of a bad entry: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed WriteFile changed the file to %q", b)
	}
	if err := WriteFile(path, goEntries()); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name() != "model.pt" {
		t.Errorf("folder holds %v, want only model.pt", files)
	}
	got, err := ReadFile(path)
	if err != nil || len(got) != len(goEntries()) {
		t.Errorf("ReadFile after WriteFile: %d entries, %v", len(got), err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.pt"), goEntries()); err == nil {
		t.Error("WriteFile into a missing folder succeeded")
	}
}

func TestDTypes(t *testing.T) {
	// Element sizes of torch's dtypes (torch.tensor([], dtype=d).element_size()).
	want := map[DType]int{Float32: 4, Float64: 8, Float16: 2, BFloat16: 2, Int64: 8, Int32: 4, Int16: 2, Int8: 1, Uint8: 1, Bool: 1}
	for d, size := range want {
		if d.Size() != size {
			t.Errorf("%v.Size() = %d, want %d", d, d.Size(), size)
		}
		if got, ok := dtypeOfStorage(d.storageClass()); !ok || got != d {
			t.Errorf("storage class %s maps to %v", d.storageClass(), got)
		}
	}
	if DType(0).Valid() || DType(99).Size() != 0 || DType(99).String() != "DType(99)" {
		t.Error("invalid DTypes are not reported as such")
	}
}
