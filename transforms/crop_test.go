package transforms

import (
	"encoding/binary"
	"testing"
)

// RandomCrop with the offsets it draws gives torchvision's reflect-padded
// crop (numpy's pad, as torchvision pads PIL images), for paddings from 1
// to past half the image, where the reflection folds more than once.
func TestRandomCropMatchesTorchvision(t *testing.T) {
	needCV2(t)
	const h, w = 9, 13
	r := newRand(7)
	var pix []uint8
	var par []byte
	var got []*Image
	for n, pad := range []int{1, 2, 4, 4, 7, 8} {
		img := randomImage(r, h, w)
		pix = append(pix, img.Pix...)
		c := &RandomCrop{Padding: pad}
		i, j := c.Draw(newRand(uint64(n))) // the draw ApplyAlways will make
		Apply(c, img, newRand(uint64(n)))
		if n == 3 { // a fixed centre crop: no move
			i, j = pad, pad
			img = randomImage(r, h, w)
			pix = append(pix[:len(pix)-h*w*3], img.Pix...)
			Translate(img, 0, 0)
		}
		par = binary.LittleEndian.AppendUint64(par, uint64(pad))
		par = binary.LittleEndian.AppendUint64(par, uint64(i))
		par = binary.LittleEndian.AppendUint64(par, uint64(j))
		got = append(got, img)
	}
	want := reference(t, "crop", h, w, map[string][]byte{"img.bin": pix, "par.bin": par})
	for k, img := range got {
		if d, first := diffCount(img.Pix, want[k*h*w*3:(k+1)*h*w*3]); d > 0 {
			t.Errorf("image %d (padding, i, j %v): %d bytes differ from torchvision's crop, first at %d",
				k, par[24*k:24*k+24], d, first)
		}
	}
}

// Translate is WarpAffine with a whole-pixel translation matrix (the device
// path's way of running RandomCrop), byte for byte.
func TestTranslateIsWarpAffine(t *testing.T) {
	r := newRand(3)
	for _, d := range [][2]int{{1, 0}, {0, -1}, {3, -2}, {-4, 4}, {12, -7}} {
		a := smoothImage(r, 10, 14)
		b := NewImage(10, 14)
		b.Load(a.Pix)
		Translate(a, d[0], d[1])
		WarpAffine(b, Affine{1, 0, float64(d[0]), 0, 1, float64(d[1])})
		if n, first := diffCount(a.Pix, b.Pix); n > 0 {
			t.Errorf("move %v: %d bytes differ, first at %d", d, n, first)
		}
	}
}

// RandomCrop's offsets are uniform over [0, 2*Padding] along each axis.
func TestRandomCropDraws(t *testing.T) {
	c := &RandomCrop{Padding: 2}
	r := newRand(11)
	var count [5][5]int
	const n = 25000
	for range n {
		i, j := c.Draw(r)
		count[i][j]++
	}
	for i := range count {
		for j, k := range count[i] {
			if k < n/25*8/10 || k > n/25*12/10 {
				t.Errorf("offset (%d,%d) drawn %d times in %d, want about %d", i, j, k, n, n/25)
			}
		}
	}
}
