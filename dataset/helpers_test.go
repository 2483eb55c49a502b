package dataset

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotrain/internal/pyref"
)

// Helpers that build synthetic CIFAR-10 data for the tests.

// file is one file of a synthetic tree or archive.
type file struct {
	name string // slash-separated
	data []byte
}

// pixel is the value the synthetic generators give channel c of pixel (y, x)
// of image k: distinct enough across k, c, y and x to catch any mix-up.
func pixel(k, c, y, x int) byte { return byte(k*31 + c*97 + y*7 + x*3) }

// record builds one binary-release record for image k with the given label,
// channel planes in R, G, B order.
func record(k int, label byte) []byte {
	rec := []byte{label}
	for c := range 3 {
		for y := range Height {
			for x := range Width {
				rec = append(rec, pixel(k, c, y, x))
			}
		}
	}
	return rec
}

// hwc is the HWC image record(k, ...) should decode to, built independently
// of the code under test: pixel (y, x) channel c lives at (y*W+x)*3+c.
func hwc(k int) []byte {
	img := make([]byte, ImageSize)
	for y := range Height {
		for x := range Width {
			for c := range 3 {
				img[(y*Width+x)*3+c] = pixel(k, c, y, x)
			}
		}
	}
	return img
}

// binaryRelease returns the files of a small binary release under prefix
// (e.g. "cifar-10-batches-bin/"): batch b holds perBatch records, image
// number k = b*perBatch + i, label k%10.
func binaryRelease(prefix string, perBatch int) []file {
	var files []file
	for b, name := range binaryBatches {
		var data []byte
		for i := range perBatch {
			k := b*perBatch + i
			data = append(data, record(k, byte(k%len(Classes)))...)
		}
		files = append(files, file{prefix + name, data})
	}
	files = append(files, file{prefix + "batches.meta.txt", []byte(strings.Join(Classes, "\n"))})
	return files
}

// pngImage is a w x h RGB image whose pixels follow pixel(k, ...).
func pngImage(k, w, h int) []byte { return encodeImage(pixelImage(k, w, h), png.Encode) }

// jpegImage is a w x h JPEG whose pixels follow pixel(k, ...).
func jpegImage(k, w, h int) []byte {
	return encodeImage(pixelImage(k, w, h), func(w io.Writer, m image.Image) error {
		return jpeg.Encode(w, m, &jpeg.Options{Quality: 75})
	})
}

// pixelImage is an opaque w x h image whose pixels follow pixel(k, ...).
func pixelImage(k, w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{pixel(k, 0, y, x), pixel(k, 1, y, x), pixel(k, 2, y, x), 255})
		}
	}
	return img
}

// encodeImage returns img in the format of encode.
func encodeImage(img image.Image, encode func(io.Writer, image.Image) error) []byte {
	var buf bytes.Buffer
	if err := encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// imageTree returns a class-folder tree under prefix (e.g. "top/"): n
// images per class and split, PNG, image number k encoded in the pixels
// (see treeImage), names chosen so that lexical order differs from
// creation order.
func imageTree(prefix string, n int) []file {
	var files []file
	for s, split := range splitNames {
		for c, class := range Classes {
			for i := n - 1; i >= 0; i-- {
				name := fmt.Sprintf("%s%s/%s/img_%03d.png", prefix, split, class, i)
				files = append(files, file{name, pngImage(treeImage(s, c, i, n), Width, Height)})
			}
		}
	}
	return files
}

// treeImage numbers the i-th image of class c in split s of imageTree.
func treeImage(s, c, i, n int) int { return (s*len(Classes)+c)*n + i }

// writeTree writes files under dir.
func writeTree(t testing.TB, dir string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tarBytes builds a tar archive of files (with their folders), gzipped if gz.
func tarBytes(t testing.TB, files []file, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	dirs := map[string]bool{}
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		parts := strings.Split(f.name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := w.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// gzipBytes compresses data into one gzip member.
func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustErr fails unless err is non-nil and its message holds every one of
// want.
func mustErr(t testing.TB, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not mention %q", err, w)
		}
	}
}

// python is the interpreter with PIL and numpy the reference checks use.
const python = pyref.Python

// needPIL skips the test unless python can import PIL (under CI it fails
// instead).
func needPIL(t testing.TB) {
	t.Helper()
	pyref.Require(t, "PIL.Image", "numpy")
}

// runPython runs a python script with args and returns its standard output.
func runPython(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(python, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}

// pilDecode decodes the image files at paths with PIL
// (Image.open(p).convert("RGB")) and returns their HWC bytes.
func pilDecode(t testing.TB, paths ...string) [][]byte {
	t.Helper()
	const script = `
import sys
from PIL import Image
for p in sys.argv[1:]:
    im = Image.open(p)
    assert im.size == (32, 32), (p, im.size)
    sys.stdout.buffer.write(im.convert("RGB").tobytes())
`
	out := runPython(t, script, paths...)
	if len(out) != len(paths)*ImageSize {
		t.Fatalf("PIL returned %d bytes for %d images", len(out), len(paths))
	}
	imgs := make([][]byte, len(paths))
	for i := range paths {
		imgs[i] = out[i*ImageSize : (i+1)*ImageSize]
	}
	return imgs
}

// diffStats compares two images byte by byte.
func diffStats(a, b []byte) (maxDiff int, mean float64, exact float64) {
	sum, same := 0, 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
		sum += d
		if d == 0 {
			same++
		}
	}
	return maxDiff, float64(sum) / float64(len(a)), float64(same) / float64(len(a))
}
