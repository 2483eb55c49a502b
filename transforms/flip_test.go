package transforms

import (
	"bytes"
	"testing"
)

func TestHFlip(t *testing.T) {
	// 2 rows, 3 columns: pixel value 10*row + column in all channels + c.
	img := NewImage(2, 3)
	for y := range 2 {
		for x := range 3 {
			for c := range 3 {
				img.Set(x, y, c, uint8(10*y+x+100*c))
			}
		}
	}
	orig := bytes.Clone(img.Pix)
	HFlip(img)
	for y := range 2 {
		for x := range 3 {
			for c := range 3 {
				if got, want := img.At(x, y, c), uint8(10*y+(2-x)+100*c); got != want {
					t.Errorf("pixel (%d,%d,%d) = %d, want %d", x, y, c, got, want)
				}
			}
		}
	}
	HFlip(img)
	if !bytes.Equal(img.Pix, orig) {
		t.Error("flipping twice is not the identity")
	}
	// Even width, 32x32 noise: twice is the identity too.
	img = randomImage(newRand(10), 32, 32)
	orig = bytes.Clone(img.Pix)
	HFlip(img)
	if bytes.Equal(img.Pix, orig) {
		t.Error("flip left noise unchanged")
	}
	HFlip(img)
	if !bytes.Equal(img.Pix, orig) {
		t.Error("flipping 32x32 twice is not the identity")
	}
}
