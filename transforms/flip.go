package transforms

import "math/rand/v2"

// HorizontalFlip mirrors the image left-right with probability P
// (albumentations' default 0.5).
type HorizontalFlip struct {
	P float64
}

// Prob returns t.P.
func (t *HorizontalFlip) Prob() float64 { return t.P }

// ApplyAlways mirrors img; it draws nothing from r.
func (t *HorizontalFlip) ApplyAlways(img *Image, _ *rand.Rand) { HFlip(img) }

// HFlip mirrors img left-right in place: column x becomes column W-1-x.
func HFlip(img *Image) {
	w := img.W
	row := w * Channels
	for y := 0; y < img.H; y++ {
		p := img.Pix[y*row : (y+1)*row : (y+1)*row]
		for i, j := 0, (w-1)*Channels; i < j; i, j = i+Channels, j-Channels {
			p[i], p[j] = p[j], p[i]
			p[i+1], p[j+1] = p[j+1], p[i+1]
			p[i+2], p[j+2] = p[j+2], p[i+2]
		}
	}
}
