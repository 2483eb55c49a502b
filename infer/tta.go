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
}

// Logits runs m (in evaluation mode, on dev) on a loader batch without
// autograd and returns its logits, with flip TTA when o says so. The
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
// ForwardLoss's, averaged over the mirror images with FlipTTA.
func evalBatch(m nn.Module, b *dataset.Batch, dev torch.Device, o EvalOptions) (logits, loss *torch.Tensor, err error) {
	x, y, err := BatchTensors(b, dev, o.ChannelsLast)
	if err != nil {
		return nil, nil, err
	}
	if !o.FlipTTA {
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

// forwardTTA returns m(x), or with FlipTTA 0.5*m(x) + 0.5*m(flipped x),
// where flipped x is the batch b mirrored left-right (x is b's tensor).
func forwardTTA(m nn.Module, x *torch.Tensor, b *dataset.Batch, dev torch.Device, o EvalOptions) (*torch.Tensor, error) {
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
