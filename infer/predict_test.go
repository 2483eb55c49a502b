package infer

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadImage32Alpha checks that alpha is dropped, not multiplied into
// the colours: a translucent image reads as the same pixels opaque, as
// PIL's Image.convert("RGB") gives.
func TestReadImage32Alpha(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, alpha uint8) string {
		img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
		for y := range 32 {
			for x := range 32 {
				img.SetNRGBA(x, y, color.NRGBA{R: uint8(8 * x), G: uint8(8 * y), B: 200, A: alpha})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	opaque, err := readImage32(write("opaque.png", 255), DefaultMaxPixels)
	if err != nil {
		t.Fatal(err)
	}
	translucent, err := readImage32(write("translucent.png", 40), DefaultMaxPixels)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{8 * 3, 8 * 2, 200}; !bytes.Equal(opaque[(2*32+3)*3:(2*32+3)*3+3], want) {
		t.Fatalf("pixel (3, 2) = %v, want %v", opaque[(2*32+3)*3:(2*32+3)*3+3], want)
	}
	if !bytes.Equal(opaque, translucent) {
		t.Error("a translucent image reads differently from the same colours opaque")
	}
}

// pngHeaderOnly returns a small PNG file whose header declares a w x h RGB
// image; its data is a few bytes of a zlib stream, far short of the image.
func pngHeaderOnly(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB, deflate, no filter, no interlace
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 64))
	zw.Close()
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", z.Bytes())...)
	return append(b, chunk("IEND", nil)...)
}

// TestReadImage32PixelLimit checks that images whose header declares more
// pixels than the limit are refused before they are decoded: a tiny PNG
// that claims 100000x100000 pixels (40 GB decoded, which took Go's
// decoder down with "out of memory"), and a real 40x40 PNG and JPEG under
// a limit of 1000 pixels, which a limit of 1600 lets through.
func TestReadImage32PixelLimit(t *testing.T) {
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.png")
	if err := os.WriteFile(bomb, pngHeaderOnly(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readImage32(bomb, DefaultMaxPixels); !errors.Is(err, ErrTooManyPixels) ||
		!strings.Contains(err.Error(), "100000x100000") || !strings.Contains(err.Error(), bomb) {
		t.Errorf("bomb: %v, want ErrTooManyPixels naming the file and its size", err)
	}

	img := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var pb, jb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"a.png": pb.Bytes(), "a.jpg": jb.Bytes()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readImage32(p, 1599); !errors.Is(err, ErrTooManyPixels) {
			t.Errorf("%s under a limit of 1599 pixels: %v, want ErrTooManyPixels", name, err)
		}
		for _, limit := range []int{1600, 0} {
			if pix, err := readImage32(p, limit); err != nil || len(pix) != 32*32*3 {
				t.Errorf("%s under a limit of %d: %d bytes, %v", name, limit, len(pix), err)
			}
		}
	}
}

// TestReadImage32HardLimit checks that no limit, 0 or larger than
// MaxDecodePixels, lets a decompression bomb be decoded (which ended the
// process with Go's "out of memory" trace under -max-pixels 0).
func TestReadImage32HardLimit(t *testing.T) {
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.png")
	if err := os.WriteFile(bomb, pngHeaderOnly(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, MaxDecodePixels, 1 << 40} {
		_, err := readImage32(bomb, limit)
		if !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), "(100000x100000 = 10000000000, more than 1073741824, the most that is ever decoded)") {
			t.Errorf("bomb under a limit of %d: %v, want the hard limit's ErrTooManyPixels", limit, err)
		}
	}
}

// TestReadImage32Directory checks that a folder is named as one, not as
// an image of unknown format.
func TestReadImage32Directory(t *testing.T) {
	dir := t.TempDir()
	_, err := readImage32(dir, DefaultMaxPixels)
	if err == nil || err.Error() != dir+" is a directory, not an image file (PNG or JPEG)" {
		t.Errorf("a folder: %v", err)
	}
}
