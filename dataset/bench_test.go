package dataset

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// cpuMeter reports the process CPU time per operation of a benchmark as the
// "cpu-ms/op" metric (with GC and all goroutines counted).
type cpuMeter struct{ start time.Duration }

func startCPU(b *testing.B) *cpuMeter {
	b.Helper()
	t, _ := cpuTime()
	return &cpuMeter{t}
}

func (m *cpuMeter) report(b *testing.B) {
	b.Helper()
	if t, ok := cpuTime(); ok && b.N > 0 {
		b.ReportMetric(float64(t-m.start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}

// sampleJPEGs returns the first n JPEG files of the shared archive, or skips.
func sampleJPEGs(b *testing.B, n int) [][]byte {
	b.Helper()
	if _, err := os.Stat(sharedArchive); err != nil {
		b.Skipf("shared archive not available: %v", err)
	}
	entries, err := readArchive(sharedArchive)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		if e.kind == kindImage && len(out) < n {
			out = append(out, e.data)
		}
	}
	return out
}

// BenchmarkDecodeImage decodes one 32x32 JPEG of the shared archive into
// HWC RGB on one goroutine (libjpeg-style chroma upsampling included).
func BenchmarkDecodeImage(b *testing.B) {
	imgs := sampleJPEGs(b, 1000)
	dst := make([]byte, ImageSize)
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		if err := DecodeImage(imgs[i%len(imgs)], dst); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkStdlibJPEGDecode is image/jpeg.Decode alone, for comparison: the
// floor DecodeImage's colour conversion adds to.
func BenchmarkStdlibJPEGDecode(b *testing.B) {
	imgs := sampleJPEGs(b, 1000)
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		if _, err := jpeg.Decode(bytes.NewReader(imgs[i%len(imgs)])); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkLoadSharedArchive is the first-run cost: gunzip, untar and decode
// all 60,000 images of the shared archive, with one goroutine per CPU.
func BenchmarkLoadSharedArchive(b *testing.B) {
	if _, err := os.Stat(sharedArchive); err != nil {
		b.Skipf("shared archive not available: %v", err)
	}
	cpu := startCPU(b)
	for b.Loop() {
		if _, _, err := Load(sharedArchive, ""); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(60000*float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkLoadCache is the cost of every later run: reading and checking
// the cache of the full data set (184 MB).
func BenchmarkLoadCache(b *testing.B) {
	train := &Set{Images: make([]byte, 50000*ImageSize), Labels: make([]uint8, 50000)}
	test := &Set{Images: make([]byte, 10000*ImageSize), Labels: make([]uint8, 10000)}
	name := filepath.Join(b.TempDir(), "c.cache")
	key := [32]byte{1}
	if err := writeCache(name, key, train, test); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(60000 * RecordSize))
	cpu := startCPU(b)
	for b.Loop() {
		if _, _, err := readCache(name, key, limits{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkReadBinary converts one official-size batch (10,000 records).
func BenchmarkReadBinary(b *testing.B) {
	data := make([]byte, 10000*RecordSize)
	b.SetBytes(int64(len(data)))
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := parseBinary(data, "batch"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkYCbCrToRGB is the colour conversion alone (libjpeg-style fancy
// upsampling of 4:2:0 chroma and fixed-point YCbCr->RGB) for one 32x32 image:
// what DecodeImage adds to image/jpeg.Decode.
func BenchmarkYCbCrToRGB(b *testing.B) {
	data := sampleJPEGs(b, 1)[0]
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, ImageSize)
	b.ResetTimer()
	cpu := startCPU(b)
	for b.Loop() {
		toRGB(img, dst)
	}
	cpu.report(b)
}
