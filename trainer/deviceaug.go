package trainer

// Training batches made on the device (Config.DeviceAugment): the decoded
// training set is uploaded once, as uint8, and each batch is gathered from
// it and augmented there by transforms/batched. The host keeps only the
// bookkeeping of the CPU loader: the epoch's order (Loader.Order, whatever
// the loader's sampling is, a distributed rank's shard included) and, per
// image, a generator seeded as the loader seeds it (Loader.ImageSeed), from
// which Augmenter.Draw draws the parameters that Pipeline.Run would draw.
// So the batches are those of the CPU loader, bit for bit, and a run gives
// the same weights on either path; a checkpoint of one resumes on the other.
//
// The parameters are drawn inline, on the training loop's goroutine, just
// before the batch is queued: about 0.1 µs per image, 65 µs for a batch of
// 512 (BenchmarkDeviceDraw), against some 100 ms for a step of 64 images of
// the seed model on one CPU thread. Handing the drawing to the loader's
// goroutines would save less than its hand-offs cost. The test pass stays
// on the host loader: its images are only normalized, once per epoch.

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"

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
// loader, or the images and drawn parameters of a batch the device makes.
type trainBatch struct {
	// Index is the batch's number in its epoch; N its number of images.
	Index, N int

	cpu    *dataset.Batch // the loader's batch, or nil
	dev    *deviceBatches // the maker of the device batch, or nil
	idx    []int          // the device batch's images
	params []batched.Params
}

// tensors returns the batch's images (float32 N×3×H×W, channels-last
// strides if asked) and labels (int64 [N]) on dev, in the current scope.
func (b *trainBatch) tensors(dev torch.Device, channelsLast bool) (x, y *torch.Tensor, err error) {
	if b.cpu != nil {
		return infer.BatchTensors(b.cpu, dev, channelsLast)
	}
	return b.dev.aug.Batch(b.idx, b.params)
}

// Release hands a loader's batch back to the loader; it may be called more
// than once.
func (b *trainBatch) Release() {
	if b.cpu != nil {
		b.cpu.Release()
		b.cpu = nil
	}
}

// deviceBatches makes the training batches of a loader on the device.
type deviceBatches struct {
	loader         *dataset.Loader // whose batches these are: order, seeds, sizes
	images, labels *torch.Tensor   // the training set on the device, owned
	aug            *batched.Augmenter
	batch          trainBatch // the batch every epoch yields, reused
}

// newDeviceBatches returns the device path of the run when cfg's
// DeviceAugment selects it on dev, and nil otherwise. loader is the CPU
// loader of set through pipe, whose batches the device is to make. With
// "auto", a pipeline the device cannot run (or a training set that does not
// fit on it) falls back to the loader with a warning; with "on" it is an
// error.
func newDeviceBatches(cfg Config, dev torch.Device, set *dataset.Set, pipe *transforms.Pipeline, loader *dataset.Loader, log *logrus.Logger) (*deviceBatches, error) {
	switch cfg.DeviceAugment {
	case "off":
		return nil, nil
	case "", "auto":
		if dev.Type != torch.CUDAType {
			return nil, nil
		}
	}
	d, err := uploadTrainingSet(dev, set, pipe, cfg.ChannelsLast)
	if err != nil {
		if cfg.DeviceAugment == "on" {
			return nil, fmt.Errorf("device augmentation: %w", err)
		}
		log.Warnf("augmenting training batches on the host (the device path is not available: %v)", err)
		return nil, nil
	}
	d.loader = loader
	log.Infof("training batches are augmented on %v, from the %d training images uploaded there", dev, set.Len())
	return d, nil
}

// uploadTrainingSet copies set to dev as uint8 N×H×W×3 with int64 labels,
// and makes the Augmenter of pipe over them.
func uploadTrainingSet(dev torch.Device, set *dataset.Set, pipe *transforms.Pipeline, channelsLast bool) (*deviceBatches, error) {
	s := torch.NewScope()
	defer s.Close()
	labels := make([]int64, set.Len())
	for i, l := range set.Labels {
		labels[i] = int64(l)
	}
	up := func(t *torch.Tensor, err error) (*torch.Tensor, error) {
		if err != nil {
			return nil, err
		}
		if t, err = t.To(dev, false); err != nil {
			return nil, fmt.Errorf("upload the training set to %v: %w", dev, err)
		}
		return t.Contiguous()
	}
	images, err := up(torch.FromSlice(set.Images, int64(set.Len()), dataset.Height, dataset.Width, dataset.Channels))
	if err != nil {
		return nil, err
	}
	y, err := up(torch.FromSlice(labels))
	if err != nil {
		return nil, err
	}
	aug, err := batched.New(images, y, pipe, batched.Options{ChannelsLast: channelsLast})
	if err != nil {
		return nil, err
	}
	return &deviceBatches{images: torch.Keep(images), labels: torch.Keep(y), aug: aug}, nil
}

// close frees the device copy of the training set; d may be nil.
func (d *deviceBatches) close() {
	if d == nil {
		return
	}
	d.aug.Close()
	d.images.Free()
	d.labels.Free()
}

// epoch yields the batches of epoch from batch from on (a run resumed
// mid-epoch skips those it trained without drawing them), in the loader's
// order, each image's parameters drawn with the generator the loader would
// give it. The batch it yields is reused for the next one (and by the next
// epoch): the consumer must be done with it (tensors called) before asking
// for the next.
func (d *deviceBatches) epoch(ctx context.Context, epoch, from int) iter.Seq2[*trainBatch, error] {
	return func(yield func(*trainBatch, error) bool) {
		order, err := d.loader.Order(epoch)
		if err != nil {
			yield(nil, err)
			return
		}
		bs, nb := d.loader.Config().BatchSize, d.loader.NumBatches()
		var pcg rand.PCG
		r := rand.New(&pcg)
		b := &d.batch
		b.dev = d
		for i := from; i < nb; i++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			lo := i * bs
			n := min(bs, len(order)-lo)
			b.Index, b.N = i, n
			b.idx = b.idx[:0]
			if cap(b.params) < n {
				b.params = make([]batched.Params, n)
			}
			b.params = b.params[:n]
			for j := range n {
				k := int(order[lo+j])
				b.idx = append(b.idx, k)
				pcg.Seed(d.loader.ImageSeed(epoch, k))
				d.aug.Draw(r, &b.params[j])
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// batches returns the training batches of the run's current epoch from
// its current batch on: the device's when it makes them, else the loader's
// (from the start of the epoch; the loop skips those already trained).
func (r *run) batches(ctx context.Context) iter.Seq2[*trainBatch, error] {
	if r.devAug != nil {
		return r.devAug.epoch(ctx, r.state.Epoch, r.state.Batch)
	}
	return func(yield func(*trainBatch, error) bool) {
		var tb trainBatch
		for b, err := range r.train.Epoch(ctx, r.state.Epoch) {
			if err != nil {
				yield(nil, err)
				return
			}
			tb = trainBatch{Index: b.Index, N: b.N, cpu: b}
			if !yield(&tb, nil) {
				return
			}
		}
	}
}
