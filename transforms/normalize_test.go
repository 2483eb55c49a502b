package transforms

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestNormalizeHandWorked(t *testing.T) {
	n := NewNormalize(CIFAR10Mean, CIFAR10Std, 255)
	// A 2x3 (HxW) image whose pixel (x, y) is (10x+y, 100+x, 255-y).
	img := NewImage(2, 3)
	for y := range 2 {
		for x := range 3 {
			img.Set(x, y, 0, uint8(10*x+y))
			img.Set(x, y, 1, uint8(100+x))
			img.Set(x, y, 2, uint8(255-y))
		}
	}
	dst := make([]float32, 18)
	n.ToCHW(img, dst)
	for c := range 3 {
		for y := range 2 {
			for x := range 3 {
				v := float64(img.At(x, y, c))
				want := (v - CIFAR10Mean[c]*255) / (CIFAR10Std[c] * 255)
				got := dst[c*6+y*3+x]
				if math.Abs(float64(got)-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Errorf("channel %d pixel (%d,%d): %v, want %v", c, x, y, got, want)
				}
			}
		}
	}
	// Hand-worked: red 0 -> -125.307/62.985 = -1.98948..., blue 255 ->
	// (255-113.8575)/66.708 = 2.11583...
	if got := dst[0]; math.Abs(float64(got)+1.989474) > 1e-5 {
		t.Errorf("red 0 -> %v, want -1.989474", got)
	}
	if got := dst[12]; math.Abs(float64(got)-2.115822) > 1e-5 {
		t.Errorf("blue 255 -> %v, want 2.115822", got)
	}
}

func TestNormalizeMatchesAlbumentations(t *testing.T) {
	needCV2(t)
	const n, h, w = 20, 32, 32
	r := newRand(9)
	norm := NewNormalize(CIFAR10Mean, CIFAR10Std, 255)
	var pix []byte
	got := make([]float32, n*3*h*w)
	for i := range n {
		img := randomImage(r, h, w)
		pix = append(pix, img.Pix...)
		norm.ToCHW(img, got[i*3*h*w:(i+1)*3*h*w])
	}
	want := reference(t, "normalize", h, w, map[string][]byte{"img.bin": pix})
	bad := 0
	for i, g := range got {
		if wv := math.Float32frombits(binary.LittleEndian.Uint32(want[4*i:])); wv != g {
			if bad++; bad <= 5 {
				t.Errorf("float %d = %v, albumentations formula %v", i, g, wv)
			}
		}
	}
}
