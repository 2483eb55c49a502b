// Package transforms implements the image augmentations of the seed project
// (albumentations 1.4.x) for 8-bit RGB images: HorizontalFlip,
// ShiftScaleRotate, CoarseDropout, RandomBrightnessContrast,
// HueSaturationValue, the Compose and OneOf containers, and Normalize, which
// writes the result as float32 CHW straight into a batch buffer.
//
// Pixel arithmetic follows what albumentations computes for uint8 images,
// including OpenCV's conventions where albumentations calls OpenCV
// (cv2.warpAffine's fixed-point bilinear interpolation, cv2.cvtColor's 8-bit
// HSV with hue in [0, 180)), so that an image goes through the same integer
// rounding at every stage.
//
// Randomness is explicit: every call takes a *rand.Rand, so a pipeline run
// is a pure function of the image and the generator's state. Transforms hold
// only their configuration and may be shared by goroutines; an [Image] (with
// its scratch buffers) and a *rand.Rand belong to one goroutine.
//
// The hot path allocates nothing: images are transformed in place, and
// geometric transforms write into the image's own scratch buffer.
package transforms
