package transforms

import (
	"fmt"
	"strconv"
	"strings"
)

// Flip modes of TrainOptions.Flip.
const (
	// FlipRandom mirrors each image with probability 0.5, drawn anew for
	// every image in every epoch (the seed's HorizontalFlip(p=0.5)).
	FlipRandom = "random"
	// FlipAlternate mirrors each image on every other epoch (AlternatingFlip).
	FlipAlternate = "alternate"
	// FlipNone never mirrors.
	FlipNone = "none"
)

// TrainOptions are the strengths of the training augmentations that Train
// builds. SeedTrainOptions returns the seed project's.
type TrainOptions struct {
	// Flip is FlipRandom, FlipAlternate or FlipNone.
	Flip string
	// Crop is RandomCrop's padding (whole-pixel moves of up to Crop
	// pixels, always applied); zero leaves it out.
	Crop int
	// ShiftScaleRotate's limits (applied with p=0.5); all zero leaves the
	// transform out.
	Shift, Scale, Rotate float64
	// CoarseDropout makes Holes holes of HoleSize×HoleSize pixels (p=0.5);
	// zero holes leave the transform out.
	Holes, HoleSize int
	// Color keeps the seed's OneOf(RandomBrightnessContrast,
	// HueSaturationValue).
	Color bool
	// FlipSeed picks which half of the images AlternatingFlip mirrors in
	// even epochs (the run's seed).
	FlipSeed uint64
}

// SeedTrainOptions returns the settings of SeedTrain.
func SeedTrainOptions() TrainOptions {
	return TrainOptions{Flip: FlipRandom, Shift: 0.15, Scale: 0.15, Rotate: 15, Holes: 2, HoleSize: 8, Color: true}
}

// Train returns the training pipeline with the given strengths: the
// seed's transforms in the seed's order, each present as o says:
//
//	HorizontalFlip(p=0.5)          Flip == FlipRandom
//	RandomCrop(32, padding=Crop, padding_mode="reflect")   Crop > 0
//	ShiftScaleRotate(Shift, Scale, Rotate, p=0.5)
//	CoarseDropout(Holes holes of HoleSize×HoleSize, fill mean*255, p=0.5)
//	OneOf([RandomBrightnessContrast, HueSaturationValue], p=0.5)   Color
//	Normalize(CIFAR10Mean, CIFAR10Std)
//
// With FlipAlternate the pipeline's AlternateFlip mirrors images by epoch
// before the other transforms instead. Train(SeedTrainOptions()) is
// SeedTrain() and draws the same numbers.
func Train(o TrainOptions) *Pipeline {
	var ts []Transform
	p := &Pipeline{Normalize: NewNormalize(CIFAR10Mean, CIFAR10Std, 255)}
	switch o.Flip {
	case FlipRandom:
		ts = append(ts, &HorizontalFlip{P: 0.5})
	case FlipAlternate:
		p.AlternateFlip = &AlternatingFlip{Seed: o.FlipSeed}
	}
	if o.Crop > 0 {
		ts = append(ts, &RandomCrop{Padding: o.Crop})
	}
	if o.Shift != 0 || o.Scale != 0 || o.Rotate != 0 {
		ts = append(ts, &ShiftScaleRotate{ShiftLimit: o.Shift, ScaleLimit: o.Scale, RotateLimit: o.Rotate, P: 0.5})
	}
	if o.Holes > 0 {
		s := o.HoleSize
		ts = append(ts, &CoarseDropout{
			MinHoles: o.Holes, MaxHoles: o.Holes, MinHeight: s, MaxHeight: s, MinWidth: s, MaxWidth: s,
			Fill: MeanFill(CIFAR10Mean), P: 0.5,
		})
	}
	if o.Color {
		ts = append(ts, &OneOf{P: 0.5, Transforms: []Transform{
			&RandomBrightnessContrast{BrightnessLimit: 0.2, ContrastLimit: 0.2, BrightnessByMax: true, P: 0.5},
			&HueSaturationValue{HueShiftLimit: 20, SatShiftLimit: 30, ValShiftLimit: 20, P: 0.5},
		}})
	}
	if len(ts) > 0 {
		p.Augment = &Compose{P: 1, Transforms: ts}
	}
	return p
}

// AlternatingFlip mirrors every image on every other epoch, as airbench's
// loader does (Jordan, arXiv 2404.00498): in epoch 0 a pseudo-random half
// of the images is mirrored, chosen by Seed and the image's index in the
// data set; from then on each image is mirrored exactly when it was not in
// the epoch before. So every two consecutive epochs show each image once
// as it is and once mirrored, where a random flip repeats a view about half
// the time.
type AlternatingFlip struct {
	Seed uint64
}

// Flipped reports whether image idx is mirrored in epoch:
// (epoch + b) mod 2 == 1, where b is bit 0 of a SplitMix64 hash of Seed
// and idx (b == 1 means mirrored in epoch 0).
func (f *AlternatingFlip) Flipped(epoch, idx int) bool {
	b := splitmix(f.Seed^splitmix(uint64(int64(idx))+0x9e3779b97f4a7c15)) & 1
	return (uint64(epoch)+b)%2 == 1
}

// splitmix is SplitMix64's finalizer.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// ParseShiftScaleRotate reads ShiftScaleRotate limits written as
// "SHIFT,SCALE,ROTATE" (fractions of the size, a scale fraction, degrees;
// the seed's are "0.15,0.15,15"), or "off" for none.
func ParseShiftScaleRotate(s string) (shift, scale, rotate float64, err error) {
	if s == "off" {
		return 0, 0, 0, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("shift-scale-rotate %q: want SHIFT,SCALE,ROTATE (e.g. 0.15,0.15,15) or off", s)
	}
	var v [3]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(f >= 0) || f > [3]float64{1, 1, 180}[i] {
			return 0, 0, 0, fmt.Errorf("shift-scale-rotate %q: %q is not a number in [0, %v]", s, p, [3]float64{1, 1, 180}[i])
		}
		v[i] = f
	}
	return v[0], v[1], v[2], nil
}

// ParseCoarseDropout reads CoarseDropout's holes written as "HOLES:SIZE"
// (HOLES holes of SIZE×SIZE pixels; the seed's are "2:8"), or "off" for
// none.
func ParseCoarseDropout(s string) (holes, size int, err error) {
	if s == "off" {
		return 0, 0, nil
	}
	h, z, ok := strings.Cut(s, ":")
	holes, err1 := strconv.Atoi(h)
	size, err2 := strconv.Atoi(z)
	if !ok || err1 != nil || err2 != nil || holes < 1 || size < 1 || size > 32 {
		return 0, 0, fmt.Errorf("coarse-dropout %q: want HOLES:SIZE (e.g. 2:8, sizes 1 to 32) or off", s)
	}
	return holes, size, nil
}
