package transforms

import "math/rand/v2"

// Pipeline is an augmentation followed by normalization into a float32 CHW
// destination: the per-image work of a data loader.
type Pipeline struct {
	// AlternateFlip, if set, mirrors the image first in the epochs where
	// it says so (see RunAt); nil means no such flip.
	AlternateFlip *AlternatingFlip
	// Augment, run with its probability; nil means none.
	Augment Transform
	// Normalize writes the result; it must not be nil.
	Normalize *Normalize
}

// Run augments img in place, drawing from r, and writes it normalized, in
// CHW layout, into dst (len 3*H*W). It is RunAt for image 0 of epoch 0.
func (p *Pipeline) Run(img *Image, r *rand.Rand, dst []float32) { p.RunAt(img, r, dst, 0, 0) }

// RunAt is Run for the image with index idx in the data set, in the given
// epoch: the two place the image for AlternateFlip.
func (p *Pipeline) RunAt(img *Image, r *rand.Rand, dst []float32, epoch, idx int) {
	if p.AlternateFlip != nil && p.AlternateFlip.Flipped(epoch, idx) {
		HFlip(img)
	}
	if p.Augment != nil {
		Apply(p.Augment, img, r)
	}
	p.Normalize.ToCHW(img, dst)
}

// MeanFill returns the per-channel mean (fractions of 255) as the uint8 fill
// numpy stores when albumentations fills a uint8 image with mean*255:
// truncated toward zero.
func MeanFill(mean [Channels]float64) [Channels]uint8 {
	var f [Channels]uint8
	for c, m := range mean {
		f[c] = clipTrunc(m * 255)
	}
	return f
}

// SeedTrain returns the seed project's training pipeline. Its README names
// the transforms, the ShiftScaleRotate limits, CoarseDropout's 2 holes of
// 8x8 and albumentations>=1.4.22; the probabilities, the fill, the OneOf and
// the normalization statistics are our choices where it is silent:
//
//	Compose([
//	    HorizontalFlip(p=0.5),
//	    ShiftScaleRotate(shift_limit=0.15, scale_limit=0.15, rotate_limit=15, p=0.5),
//	    CoarseDropout(max_holes=2, max_height=8, max_width=8, fill_value=mean*255, p=0.5),
//	    OneOf([RandomBrightnessContrast(p=0.5), HueSaturationValue(p=0.5)], p=0.5),
//	    Normalize(mean=CIFAR10Mean, std=CIFAR10Std),
//	])
//
// with albumentations' defaults for everything not listed (bilinear
// interpolation, BORDER_REFLECT_101, min_holes = max_holes, brightness and
// contrast limits 0.2, hue/saturation/value limits 20/30/20).
func SeedTrain() *Pipeline { return Train(SeedTrainOptions()) }

// SeedTest returns the seed project's evaluation pipeline: Normalize only.
func SeedTest() *Pipeline {
	return &Pipeline{Normalize: NewNormalize(CIFAR10Mean, CIFAR10Std, 255)}
}
