package transforms

import "fmt"

// Channels is the number of channels of an [Image] (RGB).
const Channels = 3

// Image is an 8-bit RGB image in HWC layout (row-major, channels interleaved),
// with scratch space so that transforms never allocate. Create one with
// [NewImage] and reuse it for many images.
type Image struct {
	H, W int
	// Pix holds H*W*3 bytes: the pixel (x, y) channel c is Pix[(y*W+x)*3+c].
	Pix []uint8

	tmp    []uint8 // same size as Pix, swapped with it by geometric transforms
	adelta []int32 // per-column terms of WarpAffine, len W
	bdelta []int32
	holes  []Hole // CoarseDropout's, reused
}

// NewImage returns a black h×w image.
func NewImage(h, w int) *Image {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("transforms: bad image size %dx%d", h, w))
	}
	n := h * w * Channels
	return &Image{
		H: h, W: w,
		Pix:    make([]uint8, n),
		tmp:    make([]uint8, n),
		adelta: make([]int32, w),
		bdelta: make([]int32, w),
	}
}

// Load copies an HWC RGB image of the same size into img.
func (img *Image) Load(pix []uint8) {
	if len(pix) != len(img.Pix) {
		panic(fmt.Sprintf("transforms: Load of %d bytes into a %dx%d image", len(pix), img.H, img.W))
	}
	copy(img.Pix, pix)
}

// At returns channel c of the pixel in column x, row y.
func (img *Image) At(x, y, c int) uint8 { return img.Pix[(y*img.W+x)*Channels+c] }

// Set sets channel c of the pixel in column x, row y.
func (img *Image) Set(x, y, c int, v uint8) { img.Pix[(y*img.W+x)*Channels+c] = v }

// swap exchanges Pix and the scratch buffer, after a transform wrote its
// output into the scratch buffer.
func (img *Image) swap() { img.Pix, img.tmp = img.tmp, img.Pix }
