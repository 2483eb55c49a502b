package trainer

// Training batches made on the device (Config.DeviceAugment): a
// batched.Loader uploads the decoded training set once and makes the CPU
// loader's batches there, bit for bit, so a run gives the same weights on
// either path and a checkpoint of one resumes on the other. The test pass
// stays on the host loader: its images are only normalized, once per epoch.

import (
	"context"
	"fmt"
	"iter"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/torch"
	"gotrain/transforms"
	"gotrain/transforms/batched"
)

// validDeviceAugment reports whether s is a value of Config.DeviceAugment.
func validDeviceAugment(s string) bool {
	switch s {
	case "", "auto", "on", "off":
		return true
	}
	return false
}

// trainBatch is one training batch on its way to a step: a batch of the CPU
// loader, or one the device makes.
type trainBatch struct {
	// Index is the batch's number in its epoch; N its number of images.
	Index, N int

	cpu *dataset.Batch // the loader's batch, or nil
	dev *batched.Batch // the device's batch, or nil
}

// tensors returns the batch's images (float32 N×3×H×W, channels-last
// strides if asked) and labels (int64 [N]) on dev, in the current scope.
// A device batch is made on the device and with the layout its Loader was
// given.
func (b *trainBatch) tensors(dev torch.Device, channelsLast bool) (x, y *torch.Tensor, err error) {
	if b.cpu != nil {
		return infer.BatchTensors(b.cpu, dev, channelsLast)
	}
	return b.dev.Tensors()
}

// Release hands a loader's batch back to the loader; it may be called more
// than once.
func (b *trainBatch) Release() {
	if b.cpu != nil {
		b.cpu.Release()
		b.cpu = nil
	}
}

// newDeviceBatches returns the device loader of the run when cfg's
// DeviceAugment selects it on dev, and nil otherwise. loader is the CPU
// loader of set through pipe, whose batches the device is to make. With
// "auto", a pipeline the device cannot run (or a training set that does not
// fit on it) falls back to the loader with a warning; with "on" it is an
// error.
func newDeviceBatches(cfg Config, dev torch.Device, set *dataset.Set, pipe *transforms.Pipeline, loader *dataset.Loader, log *logrus.Logger) (*batched.Loader, error) {
	switch cfg.DeviceAugment {
	case "off":
		return nil, nil
	case "", "auto":
		if dev.Type != torch.CUDAType {
			return nil, nil
		}
	}
	d, err := batched.NewLoader(dev, set, pipe, loader, batched.Options{ChannelsLast: cfg.ChannelsLast})
	if err != nil {
		if cfg.DeviceAugment == "on" {
			return nil, fmt.Errorf("device augmentation: %w", err)
		}
		log.Warnf("augmenting training batches on the host (the device path is not available: %v)", err)
		return nil, nil
	}
	log.Infof("training batches are augmented on %v, from the %d training images uploaded there", dev, set.Len())
	return d, nil
}

// batches returns the training batches of the run's current epoch from
// its current batch on: the device's when it makes them, else the loader's
// (from the start of the epoch; the loop skips those already trained).
func (r *run) batches(ctx context.Context) iter.Seq2[*trainBatch, error] {
	if r.devAug != nil {
		return trainBatches(r.devAug.Epoch(ctx, r.state.Epoch, r.state.Batch), func(b *batched.Batch) trainBatch {
			return trainBatch{Index: b.Index, N: b.N, dev: b}
		})
	}
	return trainBatches(r.train.Epoch(ctx, r.state.Epoch), func(b *dataset.Batch) trainBatch {
		return trainBatch{Index: b.Index, N: b.N, cpu: b}
	})
}

// trainBatches yields the batches of seq as trainBatches made by wrap,
// ending at seq's first error.
func trainBatches[B any](seq iter.Seq2[B, error], wrap func(B) trainBatch) iter.Seq2[*trainBatch, error] {
	return func(yield func(*trainBatch, error) bool) {
		var tb trainBatch
		for b, err := range seq {
			if err != nil {
				yield(nil, err)
				return
			}
			tb = wrap(b)
			if !yield(&tb, nil) {
				return
			}
		}
	}
}
