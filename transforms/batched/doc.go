// Package batched runs the augmentations of a [transforms.Pipeline] on whole
// batches on a torch device: the decoded training set lives on the device as
// one uint8 N×H×W×3 tensor, and each batch is gathered from it by index,
// augmented with batched tensor ops and normalized into float32 NCHW,
// without leaving the device.
//
// It supports the pipelines that [transforms.SeedTrain] builds: a Compose
// of, in this order and each optional, HorizontalFlip, ShiftScaleRotate,
// CoarseDropout and one colour step (RandomBrightnessContrast,
// HueSaturationValue or a OneOf of them), then Normalize. [New] refuses
// other pipelines with an error naming what it cannot run.
//
// # Same images as the CPU path
//
// A batch's random parameters are drawn on the host, per image, by
// [Augmenter.Draw], which consumes a *rand.Rand exactly as
// [transforms.Pipeline.Run] does (the same calls in the same order). So an
// image drawn with a generator in the state the CPU loader would give it
// gets the same flip, matrix, holes and colour shifts, and the device
// computes the same pixels bit for bit: every stage reproduces the integer
// arithmetic of package transforms on tensors —
//
//   - the flip and the affine warp are one gather: OpenCV's fixed-point
//     bilinear warpAffine (source positions rounded to 1/32 pixel, 15-bit
//     weights, BORDER_REFLECT_101 on the neighbours' indices), with the
//     flip folded into the column indices;
//   - CoarseDropout is a mask per hole (compares against the pixel
//     coordinates) and a select of the fill colour;
//   - brightness/contrast is v*alpha + shift in float32, clipped and
//     truncated, with identity parameters for the images it skips;
//   - hue/saturation/value is OpenCV's 8-bit RGB to HSV (its fixed-point
//     tables), the shifts in float64 and the way back through the float32
//     factors of [transforms.HSVToRGBFactors];
//   - Normalize is (v - mean) * (1/std) in float32.
//
// Integer stages compute in float64, exact for every value they meet (all
// below 2^31), so that floor and round on float tensors serve as the
// shifts and roundings of the CPU code. Grid sampling (torch grid_sample)
// was not used: it interpolates at exact float positions where OpenCV
// rounds them to 1/32 pixel, which changes a pixel by up to several levels
// at sharp edges, and the two paths would no longer give the same batches.
//
// # No host synchronization
//
// Drawing on the host costs a few dozen float64 values per image, packed
// with the images' indices into one small tensor: one host-to-device copy
// per batch (from pinned memory, asynchronous, on CUDA). Everything after
// it is device ops queued on the stream: no op of a step reads a value back
// (no Item, no ToSlice, no boolean-mask indexing or nonzero, whose output
// shape depends on the data), so the host never waits for the device. The
// indices are checked on the host before the copy, since an index out of
// range would be a device-side assertion on CUDA.
//
// Drawing on the device instead (torch's generator) would avoid even that
// copy but could not follow the CPU path's generators, which the
// bit-for-bit agreement, and the loader's reproducibility from its seed,
// rest on.
package batched
