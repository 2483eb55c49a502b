package transforms

import "math/rand/v2"

// CoarseDropout fills rectangular holes with a constant color, like
// albumentations 1.4.x CoarseDropout with integer hole sizes: the number of
// holes is uniform in [MinHoles, MaxHoles], each hole's height uniform in
// [MinHeight, MaxHeight] and width in [MinWidth, MaxWidth] (capped at the
// image size), and its top-left corner uniform over the positions where it
// fits. Holes may overlap. In albumentations a minimum left unset equals its
// maximum, so CoarseDropout(max_holes=2, max_height=8, max_width=8) always
// makes two 8×8 holes; its default P is 0.5.
type CoarseDropout struct {
	MinHoles, MaxHoles   int
	MinHeight, MaxHeight int
	MinWidth, MaxWidth   int
	// Fill is the RGB value written into the holes.
	Fill [Channels]uint8
	P    float64
}

// Prob returns t.P.
func (t *CoarseDropout) Prob() float64 { return t.P }

// Hole is a rectangle of CoarseDropout: the pixels with X1 <= x < X2 and
// Y1 <= y < Y2.
type Hole struct{ X1, Y1, X2, Y2 int }

// ApplyAlways fills the holes that Draw draws.
func (t *CoarseDropout) ApplyAlways(img *Image, r *rand.Rand) {
	img.holes = t.Draw(r, img.W, img.H, img.holes[:0])
	for _, h := range img.holes {
		FillRect(img, h.X1, h.Y1, h.X2, h.Y2, t.Fill)
	}
}

// Draw draws the holes of a w×h image and appends them to holes: the
// number of holes, then for each hole its height, width, top and left.
func (t *CoarseDropout) Draw(r *rand.Rand, w, h int, holes []Hole) []Hole {
	n := intRange(r, t.MinHoles, t.MaxHoles)
	for range n {
		hh := intRange(r, min(t.MinHeight, h), min(t.MaxHeight, h))
		hw := intRange(r, min(t.MinWidth, w), min(t.MaxWidth, w))
		y1 := r.IntN(h - hh + 1)
		x1 := r.IntN(w - hw + 1)
		holes = append(holes, Hole{x1, y1, x1 + hw, y1 + hh})
	}
	return holes
}

// intRange returns a uniform integer in [lo, hi] (lo when hi < lo).
func intRange(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}

// FillRect sets the pixels with x1 <= x < x2 and y1 <= y < y2 to fill,
// clipped to the image.
func FillRect(img *Image, x1, y1, x2, y2 int, fill [Channels]uint8) {
	x1, y1 = max(x1, 0), max(y1, 0)
	x2, y2 = min(x2, img.W), min(y2, img.H)
	if x1 >= x2 || y1 >= y2 {
		return // nothing of the rectangle lies inside the image
	}
	for y := y1; y < y2; y++ {
		p := img.Pix[(y*img.W+x1)*Channels : (y*img.W+x2)*Channels]
		for i := 0; i+2 < len(p); i += Channels {
			p[i], p[i+1], p[i+2] = fill[0], fill[1], fill[2]
		}
	}
}
