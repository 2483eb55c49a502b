package transforms

import "fmt"

// CIFAR-10 channel statistics (RGB, on [0, 1] pixel values) used by the seed.
var (
	CIFAR10Mean = [Channels]float64{0.4914, 0.4822, 0.4465}
	CIFAR10Std  = [Channels]float64{0.2470, 0.2435, 0.2616}
)

// Normalize maps each channel value v to (v - mean*max)/(std*max) in
// float32, like albumentations.Normalize on uint8 images, and writes the
// image in CHW layout. It is the last stage of a [Pipeline]: its output goes
// straight into a batch buffer. A Normalize is read-only once made and may
// be shared by goroutines.
type Normalize struct {
	Mean, Std     [Channels]float64
	MaxPixelValue float64

	lut [Channels][256]float32
}

// NewNormalize returns a Normalize for the given per-channel mean and
// standard deviation (as fractions of maxPixelValue, usually 255).
func NewNormalize(mean, std [Channels]float64, maxPixelValue float64) *Normalize {
	n := &Normalize{Mean: mean, Std: std, MaxPixelValue: maxPixelValue}
	mp := float32(maxPixelValue)
	for c := range Channels {
		if std[c] <= 0 {
			panic(fmt.Sprintf("transforms: Normalize std[%d] = %v, want > 0", c, std[c]))
		}
		// albumentations: mean and std as float32 arrays times max_pixel_value,
		// the reciprocal of std in float32, then (img - mean) * reciprocal.
		m := float32(float32(mean[c]) * mp)
		den := 1 / float32(float32(std[c])*mp)
		for v := range 256 {
			n.lut[c][v] = float32(float32(v)-m) * den
		}
	}
	return n
}

// ToCHW writes the normalized img into dst (len 3*H*W) as channel planes:
// dst[c*H*W + y*W + x] is channel c of the pixel (x, y).
func (n *Normalize) ToCHW(img *Image, dst []float32) {
	plane := img.H * img.W
	if len(dst) != Channels*plane {
		panic(fmt.Sprintf("transforms: ToCHW into %d floats, want %d", len(dst), Channels*plane))
	}
	r, g, b := dst[:plane:plane], dst[plane:2*plane:2*plane], dst[2*plane:3*plane:3*plane]
	lr, lg, lb := &n.lut[0], &n.lut[1], &n.lut[2]
	p := img.Pix[: plane*Channels : plane*Channels]
	for i := range plane {
		px := p[i*Channels : i*Channels+Channels : i*Channels+Channels]
		r[i] = lr[px[0]]
		g[i] = lg[px[1]]
		b[i] = lb[px[2]]
	}
}
