package infer

import (
	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// EvalOptions are the settings of a test pass.
type EvalOptions struct {
	// ChannelsLast feeds the images in NHWC memory layout.
	ChannelsLast bool
	// Autocast runs the forward passes under CPU autocast.
	Autocast bool
	// FlipTTA is flip test-time augmentation: the logits of an image are
	// the mean of the network's logits for it and for its mirror image,
	// 0.5*m(x) + 0.5*m(x.flip(-1)).
	FlipTTA bool
	// TranslateTTA adds two views shifted by one pixel, as airbench's
	// tta_level 2 does: the image padded by one pixel on each side with
	// reflection (F.pad(x, (1, 1, 1, 1), mode="reflect")) and cropped
	// to 32x32 at offset (0, 0) and at (2, 2), so moved one pixel down
	// and right, or up and left. The logits are 0.5*v(x) + 0.25*v(down
	// right) + 0.25*v(up left), where v is m, or with FlipTTA the mean of
	// m on the view and on its mirror image.
	TranslateTTA bool
}

// tta reports whether o asks for more than one view.
func (o EvalOptions) tta() bool { return o.FlipTTA || o.TranslateTTA }

// Logits runs m (in evaluation mode, on dev) on a loader batch without
// autograd and returns its logits, averaged over the views of o's TTA. The
// tensor belongs to the current scope.
func Logits(m nn.Module, b *dataset.Batch, dev torch.Device, o EvalOptions) (*torch.Tensor, error) {
	var logits *torch.Tensor
	err := torch.NoGrad(func() error {
		x, _, err := BatchTensors(b, dev, o.ChannelsLast)
		if err != nil {
			return err
		}
		f := func() error {
			logits, err = forwardTTA(m, x, b, dev, o)
			return err
		}
		if o.Autocast {
			return torch.AutocastCPU(f)
		}
		return f()
	})
	return logits, err
}

// evalBatch returns m's logits for a batch and their summed cross-entropy:
// ForwardLoss's, with the logits averaged over the views of o's TTA.
func evalBatch(m nn.Module, b *dataset.Batch, dev torch.Device, o EvalOptions) (logits, loss *torch.Tensor, err error) {
	x, y, err := BatchTensors(b, dev, o.ChannelsLast)
	if err != nil {
		return nil, nil, err
	}
	if !o.tta() {
		return ForwardLoss(m, x, y, torch.ReduceSum, 0, o.Autocast)
	}
	f := func() error {
		if logits, err = forwardTTA(m, x, b, dev, o); err != nil {
			return err
		}
		loss, err = torch.CrossEntropy(logits, y, torch.ReduceSum, 0)
		return err
	}
	if o.Autocast {
		err = torch.AutocastCPU(f)
	} else {
		err = f()
	}
	return logits, loss, err
}

// forwardTTA returns m's logits for the batch b (x is b's tensor on dev),
// averaged over the views o's TTA asks for.
func forwardTTA(m nn.Module, x *torch.Tensor, b *dataset.Batch, dev torch.Device, o EvalOptions) (*torch.Tensor, error) {
	logits, err := flipViews(m, x, b, dev, o)
	if err != nil || !o.TranslateTTA {
		return logits, err
	}
	sum, err := logits.MulScalar(0.5)
	if err != nil {
		return nil, err
	}
	for _, d := range []int{1, -1} {
		tb := &dataset.Batch{X: TranslateBatch(b.X, b.N, d, d), Y: b.Y, N: b.N}
		xt, _, err := BatchTensors(tb, dev, o.ChannelsLast)
		if err != nil {
			return nil, err
		}
		lt, err := flipViews(m, xt, tb, dev, o)
		if err != nil {
			return nil, err
		}
		if sum, err = torch.AddScaled(sum, lt, 0.25); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// flipViews returns m(x), or with FlipTTA 0.5*m(x) + 0.5*m(flipped x),
// where flipped x is the batch b mirrored left-right (x is b's tensor).
func flipViews(m nn.Module, x *torch.Tensor, b *dataset.Batch, dev torch.Device, o EvalOptions) (*torch.Tensor, error) {
	logits, err := m.Forward(x)
	if err != nil || !o.FlipTTA {
		return logits, err
	}
	fb := &dataset.Batch{X: FlipBatch(b.X, b.N), Y: b.Y, N: b.N}
	xf, _, err := BatchTensors(fb, dev, o.ChannelsLast)
	if err != nil {
		return nil, err
	}
	lf, err := m.Forward(xf)
	if err != nil {
		return nil, err
	}
	half, err := logits.MulScalar(0.5)
	if err != nil {
		return nil, err
	}
	return torch.AddScaled(half, lf, 0.5)
}

// TranslateBatch returns a copy of n NCHW images (3×32×32 float32) moved
// dy pixels down and dx right (|dy|, |dx| <= 1), the pixels moved in from
// outside the image mirrored at its border as reflection padding does
// (F.pad(x, (1, 1, 1, 1), mode="reflect") cropped at (1-dy, 1-dx)).
func TranslateBatch(x []float32, n, dy, dx int) []float32 {
	if dy < -1 || dy > 1 || dx < -1 || dx > 1 {
		panic("infer: TranslateBatch moves at most one pixel")
	}
	h, w := dataset.Height, dataset.Width
	reflect := func(i, size int) int {
		if i < 0 {
			return -i
		}
		if i >= size {
			return 2*(size-1) - i
		}
		return i
	}
	out := make([]float32, n*dataset.ImageSize)
	for p := 0; p < n*3; p++ {
		src, dst := x[p*h*w:(p+1)*h*w], out[p*h*w:(p+1)*h*w]
		for r := range h {
			sr := reflect(r-dy, h) * w
			for c := range w {
				dst[r*w+c] = src[sr+reflect(c-dx, w)]
			}
		}
	}
	return out
}

// FlipBatch returns a copy of n NCHW images (3×32×32 float32) mirrored
// left-right: x.flip(-1).
func FlipBatch(x []float32, n int) []float32 {
	out := make([]float32, n*dataset.ImageSize)
	w := dataset.Width
	for r := 0; r < n*3*dataset.Height; r++ {
		src, dst := x[r*w:(r+1)*w], out[r*w:(r+1)*w]
		for i, v := range src {
			dst[w-1-i] = v
		}
	}
	return out
}
