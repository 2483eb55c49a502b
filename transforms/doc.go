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
// # One draw per transform
//
// Each random transform writes its random draw once, as a Draw method
// (torchvision's get_params): [RandomCrop.Draw], [ShiftScaleRotate.Draw],
// [CoarseDropout.Draw], [RandomBrightnessContrast.Draw],
// [HueSaturationValue.Draw], [OneOf.Pick], and [ShouldApply] for the
// probability. ApplyAlways is its Draw followed by a deterministic function
// of the image and the drawn values ([Translate], [WarpAffine],
// [FillRect], [BrightnessContrast], [ShiftHSV]). Package
// transforms/batched calls the same Draw methods in the same order and
// applies the values to whole batches on a device, so the two paths make
// the same images from the same generator state.
//
// The hot path allocates nothing: images are transformed in place, and
// geometric transforms write into the image's own scratch buffer.
package transforms
