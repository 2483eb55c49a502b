package batched

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gotrain/torch"
	"gotrain/transforms"
)

// Options are the choices of an [Augmenter] beyond its pipeline.
type Options struct {
	// ChannelsLast makes Batch return images with NHWC strides (the shape
	// stays N×3×H×W), as cuDNN and oneDNN convolutions prefer; otherwise
	// they are contiguous NCHW.
	ChannelsLast bool
}

// plan is a pipeline taken apart into the stages the device runs.
type plan struct {
	composeP float64 // the Compose's P; 1 when there is no Compose
	flip     *transforms.HorizontalFlip
	crop     *transforms.RandomCrop
	ssr      *transforms.ShiftScaleRotate
	drop     *transforms.CoarseDropout
	// The colour step: a OneOf of colour transforms, or one of them alone.
	oneOf *transforms.OneOf
	bc    *transforms.RandomBrightnessContrast
	hsv   *transforms.HueSaturationValue
	norm  *transforms.Normalize
}

// parse takes p apart, refusing what the device cannot run.
func parse(p *transforms.Pipeline) (plan, error) {
	var pl plan
	if p == nil || p.Normalize == nil {
		return pl, errors.New("the pipeline must have a Normalize")
	}
	pl.norm, pl.composeP = p.Normalize, 1
	if p.Augment == nil {
		return pl, nil
	}
	c, ok := p.Augment.(*transforms.Compose)
	if !ok {
		return pl, fmt.Errorf("the augmentation is a %T, want a *transforms.Compose", p.Augment)
	}
	pl.composeP = c.P
	stage := 0 // stages run in this order: flip, warp, dropout, colour
	for i, t := range c.Transforms {
		var s int
		switch t := t.(type) {
		case *transforms.HorizontalFlip:
			s, pl.flip = 1, t
		case *transforms.RandomCrop:
			s, pl.crop = 2, t
		case *transforms.ShiftScaleRotate:
			s, pl.ssr = 2, t
		case *transforms.CoarseDropout:
			s, pl.drop = 3, t
		case *transforms.OneOf:
			s, pl.oneOf = 4, t
			for j, u := range t.Transforms {
				switch u := u.(type) {
				case *transforms.RandomBrightnessContrast:
					pl.bc = u
				case *transforms.HueSaturationValue:
					pl.hsv = u
				default:
					return pl, fmt.Errorf("transform %d of the OneOf is a %T, want brightness/contrast or hue/saturation/value", j, u)
				}
			}
		case *transforms.RandomBrightnessContrast:
			s, pl.bc = 4, t
		case *transforms.HueSaturationValue:
			s, pl.hsv = 4, t
		default:
			return pl, fmt.Errorf("transform %d of the Compose is a %T, which the device path does not implement", i, t)
		}
		if s <= stage {
			return pl, fmt.Errorf("transform %d of the Compose (%T) is out of order or repeated: the device path runs flip, one of RandomCrop and ShiftScaleRotate, CoarseDropout, one colour step", i, t)
		}
		stage = s
	}
	if pl.hsv != nil && math.Abs(pl.hsv.HueShiftLimit) >= 180 {
		return pl, fmt.Errorf("hue shift limit %v, want below 180", pl.hsv.HueShiftLimit)
	}
	if d := pl.drop; d != nil && (d.MaxHoles < 0 || d.MaxHoles > maxHoles) {
		return pl, fmt.Errorf("CoarseDropout with up to %d holes, want at most %d", d.MaxHoles, maxHoles)
	}
	return pl, nil
}

// maxHoles bounds CoarseDropout's number of holes (each is a few ops per batch).
const maxHoles = 16

// Hole is a rectangle of CoarseDropout, as its Draw gives them.
type Hole = transforms.Hole

// Params are one image's augmentation parameters, as drawn by
// [Augmenter.Draw]: what the CPU pipeline would do to the image.
type Params struct {
	Flip bool
	// Warp says whether RandomCrop or ShiftScaleRotate runs, with Matrix
	// (source to destination, as transforms.WarpAffine takes it; a
	// whole-pixel translation for RandomCrop).
	Warp   bool
	Matrix transforms.Affine
	// Holes are filled with the CoarseDropout's Fill.
	Holes []Hole
	// BrightnessContrast says whether it runs, with contrast Alpha and
	// brightness Beta.
	BrightnessContrast bool
	Alpha, Beta        float64
	// HSV says whether HueSaturationValue runs, with these shifts.
	HSV           bool
	Hue, Sat, Val float64
}

// Augmenter augments batches of a training set that lives on a device.
// Its methods are for one goroutine at a time.
type Augmenter struct {
	images, labels *torch.Tensor // not owned
	n, h, w        int
	dev            torch.Device
	pl             plan
	opts           Options
	holes          int // hole slots per image in the parameter rows
	cols           int // float64 values per image in the parameter rows

	// Constants on the device, owned (freed by Close).
	consts                []*torch.Tensor
	xs, ys                *torch.Tensor // pixel coordinates, float64 [W] and [H]
	xs3, ys3              *torch.Tensor // as [1,1,W] and [1,H,1]
	sdiv, hdiv            *torch.Tensor // OpenCV's RGB to HSV tables, float64 [256]
	hsvFactors            *torch.Tensor // float32 [256*256, 3]
	fill                  *torch.Tensor // float64 [3]
	mean, invStd          *torch.Tensor // float32 [3]
	period, periodH, area *torch.Tensor // float64 scalars: 2(W-1), 2(H-1), H*W*3
}

// Columns of a parameter row; the holes follow.
const (
	colIndex = iota
	colFlip
	colInv   // 6 values: the inverse matrix
	colAlpha = colInv + 6
	colShift = colAlpha + 1 // brightness shift (by max) or beta (by mean)
	colHSV   = colShift + 1
	colHue   = colHSV + 1
	colSat   = colHue + 1
	colVal   = colSat + 1
	colHoles = colVal + 1
)

// New returns an Augmenter of images, a uint8 tensor M×H×W×3 (RGB, HWC per
// image, as dataset.Set holds them) on the device that batches are to be
// made on, whose labels (int64 [M], on the same device) come with them,
// through pipe (for example transforms.SeedTrain()). The Augmenter does not
// own images and labels: they must outlive it. Close frees its own tensors.
func New(images, labels *torch.Tensor, pipe *transforms.Pipeline, opts Options) (*Augmenter, error) {
	pl, err := parse(pipe)
	if err != nil {
		return nil, fmt.Errorf("batched: New: %w", err)
	}
	if !images.Defined() || !labels.Defined() {
		return nil, errors.New("batched: New: images and labels must be tensors")
	}
	s := images.Shape()
	if images.DType() != torch.Uint8 || len(s) != 4 || s[3] != transforms.Channels || s[1] < 2 || s[2] < 2 {
		return nil, fmt.Errorf("batched: New: images are %v, want uint8 M×H×W×3 with H, W >= 2", images)
	}
	if ls := labels.Shape(); labels.DType() != torch.Int64 || len(ls) != 1 || ls[0] != s[0] {
		return nil, fmt.Errorf("batched: New: labels are %v, want int64 [%d]", labels, s[0])
	}
	if images.Device() != labels.Device() {
		return nil, fmt.Errorf("batched: New: images on %v, labels on %v", images.Device(), labels.Device())
	}
	a := &Augmenter{
		images: images, labels: labels,
		n: int(s[0]), h: int(s[1]), w: int(s[2]),
		dev: images.Device(), pl: pl, opts: opts,
	}
	if pl.drop != nil {
		a.holes = pl.drop.MaxHoles
	}
	a.cols = colHoles + 4*a.holes
	if err := a.makeConsts(); err != nil {
		a.Close()
		return nil, fmt.Errorf("batched: New: %w", err)
	}
	return a, nil
}

// Close frees the Augmenter's constants; it must not be used afterwards.
func (a *Augmenter) Close() {
	for _, t := range a.consts {
		t.Free()
	}
	a.consts = nil
}

// constant uploads data to the device as a tensor the Augmenter owns.
func constant[T torch.Element](a *Augmenter, data []T, shape ...int64) (*torch.Tensor, error) {
	s := torch.NewScope()
	defer s.Close()
	t, err := torch.FromSlice(data, shape...)
	if err != nil {
		return nil, err
	}
	if t, err = t.To(a.dev, false); err != nil {
		return nil, err
	}
	t, err = t.Contiguous()
	if err != nil {
		return nil, err
	}
	a.consts = append(a.consts, torch.Keep(t))
	return t, nil
}

func (a *Augmenter) makeConsts() error {
	var err error
	ramp := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i)
		}
		return v
	}
	w, h := int64(a.w), int64(a.h)
	for _, c := range []struct {
		dst   **torch.Tensor
		data  []float64
		shape []int64
	}{
		{&a.xs, ramp(a.w), []int64{w}},
		{&a.ys, ramp(a.h), []int64{h}},
		{&a.xs3, ramp(a.w), []int64{1, 1, w}},
		{&a.ys3, ramp(a.h), []int64{1, h, 1}},
		{&a.period, []float64{float64(2 * (a.w - 1))}, []int64{}},
		{&a.periodH, []float64{float64(2 * (a.h - 1))}, []int64{}},
		{&a.area, []float64{float64(a.w * a.h * transforms.Channels)}, []int64{}},
	} {
		if *c.dst, err = constant(a, c.data, c.shape...); err != nil {
			return err
		}
	}
	// OpenCV's 8-bit RGB to HSV tables, those of transforms.RGBToHSV.
	st, ht := transforms.RGBToHSVTables()
	sdiv, hdiv := make([]float64, 256), make([]float64, 256)
	for i := range 256 {
		sdiv[i], hdiv[i] = float64(st[i]), float64(ht[i])
	}
	if a.sdiv, err = constant(a, sdiv, 256); err != nil {
		return err
	}
	if a.hdiv, err = constant(a, hdiv, 256); err != nil {
		return err
	}
	if a.pl.hsv != nil {
		f := make([]float32, 256*256*3)
		for hue := range 256 {
			for sat := range 256 {
				i := (hue*256 + sat) * 3
				f[i], f[i+1], f[i+2] = transforms.HSVToRGBFactors(uint8(hue), uint8(sat))
			}
		}
		if a.hsvFactors, err = constant(a, f, 256*256, 3); err != nil {
			return err
		}
	}
	fill := []float64{0, 0, 0}
	if a.pl.drop != nil {
		for c, v := range a.pl.drop.Fill {
			fill[c] = float64(v)
		}
	}
	if a.fill, err = constant(a, fill, 3); err != nil {
		return err
	}
	// Normalize as transforms.NewNormalize computes it, in float32.
	n := a.pl.norm
	mp := float32(n.MaxPixelValue)
	mean, inv := make([]float32, 3), make([]float32, 3)
	for c := range transforms.Channels {
		if n.Std[c] <= 0 {
			return fmt.Errorf("Normalize std[%d] = %v, want > 0", c, n.Std[c])
		}
		mean[c] = float32(n.Mean[c]) * mp
		inv[c] = 1 / (float32(n.Std[c]) * mp)
	}
	if a.mean, err = constant(a, mean, 3); err != nil {
		return err
	}
	a.invStd, err = constant(a, inv, 3)
	return err
}

// Draw sets p to the parameters of one image's augmentation, calling the
// pipeline's own draws (transforms.ShouldApply and each transform's Draw)
// in the order its Run calls them, so that the same generator state gives
// the same augmentation on both paths. p's Holes slice is reused.
func (a *Augmenter) Draw(r *rand.Rand, p *Params) {
	holes := p.Holes[:0]
	*p = Params{Holes: holes}
	pl := &a.pl
	if !transforms.ShouldApply(pl.composeP, r) {
		return
	}
	if pl.flip != nil && transforms.ShouldApply(pl.flip.P, r) {
		p.Flip = true
	}
	if t := pl.crop; t != nil {
		i, j := t.Draw(r)
		p.Warp, p.Matrix = true, transforms.Affine{1, 0, float64(t.Padding - j), 0, 1, float64(t.Padding - i)}
	}
	if t := pl.ssr; t != nil && transforms.ShouldApply(t.P, r) {
		p.Warp, p.Matrix = true, t.Draw(r, a.w, a.h)
	}
	if t := pl.drop; t != nil && transforms.ShouldApply(t.P, r) {
		p.Holes = t.Draw(r, a.w, a.h, p.Holes)
	}
	var color transforms.Transform
	switch {
	case pl.oneOf != nil:
		if transforms.ShouldApply(pl.oneOf.P, r) {
			color = pl.oneOf.Pick(r)
		}
	case pl.bc != nil:
		if transforms.ShouldApply(pl.bc.P, r) {
			color = pl.bc
		}
	case pl.hsv != nil:
		if transforms.ShouldApply(pl.hsv.P, r) {
			color = pl.hsv
		}
	}
	switch t := color.(type) {
	case *transforms.RandomBrightnessContrast:
		p.BrightnessContrast = true
		p.Alpha, p.Beta = t.Draw(r)
	case *transforms.HueSaturationValue:
		p.HSV = true
		p.Hue, p.Sat, p.Val = t.Draw(r)
	}
}

// rows packs the indices and parameters of a batch into one float64 matrix
// (len(idx) rows of a.cols values), checking them.
func (a *Augmenter) rows(idx []int, params []Params) ([]float64, error) {
	if len(idx) == 0 || len(idx) != len(params) {
		return nil, fmt.Errorf("%d indices and %d parameter sets, want the same positive number", len(idx), len(params))
	}
	v := make([]float64, len(idx)*a.cols)
	for i, k := range idx {
		if k < 0 || k >= a.n {
			return nil, fmt.Errorf("image index %d out of range [0, %d)", k, a.n)
		}
		p := &params[i]
		row := v[i*a.cols : (i+1)*a.cols]
		row[colIndex] = float64(k)
		if p.Flip {
			row[colFlip] = 1
		}
		inv := transforms.Affine{1, 0, 0, 0, 1, 0}
		if p.Warp {
			inv = p.Matrix.Inverse()
		}
		copy(row[colInv:colInv+6], inv[:])
		row[colAlpha] = 1
		if p.BrightnessContrast {
			if a.pl.bc == nil {
				return nil, fmt.Errorf("image %d: brightness/contrast asked for, but the pipeline has none", i)
			}
			row[colAlpha] = float64(float32(p.Alpha))
			if a.pl.bc.BrightnessByMax {
				row[colShift] = float64(float32(p.Beta * 255))
			} else {
				row[colShift] = p.Beta
			}
		}
		// transforms.ShiftHSV leaves an image untouched when all shifts are zero.
		if p.HSV && (p.Hue != 0 || p.Sat != 0 || p.Val != 0) {
			if a.pl.hsv == nil {
				return nil, fmt.Errorf("image %d: hue/saturation/value asked for, but the pipeline has none", i)
			}
			if math.Abs(p.Hue) >= 180 {
				return nil, fmt.Errorf("image %d: hue shift %v, want below 180 in magnitude", i, p.Hue)
			}
			row[colHSV], row[colHue], row[colSat], row[colVal] = 1, p.Hue, p.Sat, p.Val
		}
		if len(p.Holes) > a.holes {
			return nil, fmt.Errorf("image %d: %d holes, the pipeline makes at most %d", i, len(p.Holes), a.holes)
		}
		for j, hl := range p.Holes {
			copy(row[colHoles+4*j:], []float64{float64(hl.X1), float64(hl.Y1), float64(hl.X2), float64(hl.Y2)})
		}
	}
	return v, nil
}

// Next draws the parameters of the images idx with r, one image after
// another, and returns their batch (see Batch). It is the convenience for
// callers that do not need to match the CPU loader's per-image generators.
func (a *Augmenter) Next(idx []int, r *rand.Rand) (x, y *torch.Tensor, err error) {
	params := make([]Params, len(idx))
	for i := range params {
		a.Draw(r, &params[i])
	}
	return a.Batch(idx, params)
}
