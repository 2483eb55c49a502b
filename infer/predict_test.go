package infer

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
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
	opaque, err := readImage32(write("opaque.png", 255))
	if err != nil {
		t.Fatal(err)
	}
	translucent, err := readImage32(write("translucent.png", 40))
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
