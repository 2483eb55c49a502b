package transforms

import "math/rand/v2"

// RandomCrop is torchvision's RandomCrop(size, padding=Padding,
// padding_mode="reflect") for a crop of the image's own size: the image,
// padded by Padding pixels on every side with reflection (numpy's
// "reflect", OpenCV's BORDER_REFLECT_101: dcb|abcd|cba), is cropped back to
// its size at a random offset. That moves it by a whole number of pixels,
// uniform in [-Padding, Padding] along each axis. It always runs (P is 1),
// as torchvision's transform has no probability.
type RandomCrop struct {
	Padding int
}

// Prob returns 1.
func (t *RandomCrop) Prob() float64 { return 1 }

// ApplyAlways moves img by Padding-j pixels right and Padding-i down, for
// the crop's offset (i, j) that Draw draws.
func (t *RandomCrop) ApplyAlways(img *Image, r *rand.Rand) {
	i, j := t.Draw(r)
	Translate(img, t.Padding-j, t.Padding-i)
}

// Draw draws the crop's top row i and left column j of the padded image,
// each uniform in [0, 2*Padding], in that order (torchvision's get_params).
func (t *RandomCrop) Draw(r *rand.Rand) (i, j int) {
	n := 2*t.Padding + 1
	i = r.IntN(n)
	j = r.IntN(n)
	return i, j
}

// Translate moves img by dx pixels right and dy down, filling the border
// by reflection (BORDER_REFLECT_101): the destination pixel (x, y) is the
// source pixel (x-dx, y-dy), reflected into the image. It is WarpAffine
// with the matrix of that translation, whose bilinear weights are exact
// at whole-pixel positions.
func Translate(img *Image, dx, dy int) {
	if dx == 0 && dy == 0 {
		return
	}
	w, h := img.W, img.H
	src, dst := img.Pix, img.tmp
	for y := range h {
		sy := reflect101(y-dy, h)
		for x := range w {
			s := (sy*w + reflect101(x-dx, w)) * Channels
			d := (y*w + x) * Channels
			copy(dst[d:d+Channels], src[s:s+Channels])
		}
	}
	img.swap()
}
