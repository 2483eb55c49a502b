package batched

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/transforms"
)

// Loader makes the batches of a [dataset.Loader] on a device: the decoded
// set is uploaded once, as uint8, and each batch is gathered from it and
// augmented there by an [Augmenter]. The host keeps only the bookkeeping of
// the dataset loader: the epoch's order ([dataset.Loader.Order], whatever
// its sampling is, a distributed rank's shard included) and, per image, a
// generator seeded as that loader seeds it ([dataset.Loader.ImageSeed]),
// from which [Augmenter.Draw] draws the parameters that
// [transforms.Pipeline.Run] would draw. So the batches are those of the
// dataset loader, bit for bit, and training gives the same weights on
// either path.
//
// The parameters are drawn inline, on the goroutine that ranges over
// [Loader.Epoch], just before the batch is yielded: about 0.1 µs per image,
// 65 µs for a batch of 512 (BenchmarkLoaderDraw), against some 100 ms for
// a training step of 64 images of the seed model on one CPU thread.
// Handing the drawing to goroutines would save less than the hand-offs
// cost.
type Loader struct {
	host           *dataset.Loader // whose batches these are: order, seeds, sizes
	images, labels *torch.Tensor   // the set on the device, owned
	aug            *Augmenter
	batch          Batch // the batch every epoch yields, reused
}

// Batch is one batch of a [Loader]: the images it gathers and the
// parameters drawn for them. Tensors makes it on the device.
type Batch struct {
	// Index is the batch's number in its epoch; N its number of images.
	Index, N int
	// Indices are the images' indices in the set, Params their
	// augmentations (one each).
	Indices []int
	Params  []Params

	aug *Augmenter
}

// Tensors returns the batch's images (float32 N×3×H×W, normalized, with
// NHWC strides if the Loader's Options ask for them) and labels (int64
// [N]) on the Loader's device, in the current torch.Scope (see
// [Augmenter.Batch]).
func (b *Batch) Tensors() (x, y *torch.Tensor, err error) { return b.aug.Batch(b.Indices, b.Params) }

// NewLoader uploads set to dev (uint8 N×H×W×3, int64 labels) and returns
// the Loader that makes host's batches there; host is the dataset loader
// of set through pipe. It fails with an error naming the problem where the
// device cannot run pipe (see [New]) or the set does not fit on dev. Close
// frees the device copy; host stays the caller's.
func NewLoader(dev torch.Device, set *dataset.Set, pipe *transforms.Pipeline, host *dataset.Loader, opts Options) (*Loader, error) {
	if host == nil {
		return nil, errors.New("batched: NewLoader: no dataset loader")
	}
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
	aug, err := New(images, y, pipe, opts)
	if err != nil {
		return nil, err
	}
	return &Loader{host: host, images: torch.Keep(images), labels: torch.Keep(y), aug: aug}, nil
}

// Close frees the device copy of the set; l may be nil.
func (l *Loader) Close() {
	if l == nil {
		return
	}
	l.aug.Close()
	l.images.Free()
	l.labels.Free()
}

// Epoch yields the batches of epoch from batch from on (a run resumed
// mid-epoch skips those it trained without drawing them), in the dataset
// loader's order, each image's parameters drawn with the generator that
// loader would give it. A cancelled ctx ends the epoch with its error. The
// batch it yields is reused for the next one (and by the next epoch): the
// consumer must be done with it (Tensors called) before asking for the
// next.
func (l *Loader) Epoch(ctx context.Context, epoch, from int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		order, err := l.host.Order(epoch)
		if err != nil {
			yield(nil, err)
			return
		}
		bs, nb := l.host.Config().BatchSize, l.host.NumBatches()
		var pcg rand.PCG
		r := rand.New(&pcg)
		b := &l.batch
		b.aug = l.aug
		for i := from; i < nb; i++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			lo := i * bs
			n := min(bs, len(order)-lo)
			b.Index, b.N = i, n
			b.Indices = b.Indices[:0]
			if cap(b.Params) < n {
				b.Params = make([]Params, n)
			}
			b.Params = b.Params[:n]
			for j := range n {
				k := int(order[lo+j])
				b.Indices = append(b.Indices, k)
				pcg.Seed(l.host.ImageSeed(epoch, k))
				l.aug.Draw(r, &b.Params[j])
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}
