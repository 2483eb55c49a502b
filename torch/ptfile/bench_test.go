package ptfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchEntries is a 16 MiB float32 state dict of 32 tensors.
func benchEntries() []Entry {
	var entries []Entry
	for i := 0; i < 32; i++ {
		entries = append(entries, Entry{Name: "layer" + string(rune('a'+i%26)) + string(rune('0'+i/26)) + ".weight",
			DType: Float32, Shape: []int64{256, 512}, Data: testBytes(uint32(i), 256*512*4)})
	}
	return entries
}

func BenchmarkWrite(b *testing.B) {
	entries := benchEntries()
	b.SetBytes(int64(len(entries) * len(entries[0].Data)))
	for b.Loop() {
		if err := Write(io.Discard, entries); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFile(b *testing.B) {
	entries := benchEntries()
	path := filepath.Join(b.TempDir(), "bench.pt")
	b.SetBytes(int64(len(entries) * len(entries[0].Data)))
	for b.Loop() {
		if err := WriteFile(path, entries); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	entries := benchEntries()
	var buf bytes.Buffer
	if err := Write(&buf, entries); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pt")
	if err := WriteFile(path, benchEntries()); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	for b.Loop() {
		if _, err := ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGatherTranspose materializes a transposed 1024x1024 float32
// view, the slow path of reading non-contiguous tensors.
func BenchmarkGatherTranspose(b *testing.B) {
	src := testBytes(1, 1024*1024*4)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		gather(dst, src, 4, 0, []int64{1024, 1024}, []int64{1, 1024})
	}
}
