package dataset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"

	"gotrain/transforms"
)

// ErrClosed is reported by an epoch of a Loader that was closed.
var ErrClosed = errors.New("dataset: loader closed")

// LoaderConfig configures a [Loader].
type LoaderConfig struct {
	// BatchSize is the number of images per batch; it must be positive.
	BatchSize int
	// Shuffle visits the images in a new order each epoch, a permutation
	// drawn from (Seed, epoch); otherwise in the set's order.
	Shuffle bool
	// Sampler, if set, chooses the images of every epoch and their order,
	// as a torch.utils.data.DataLoader's sampler does, and Shuffle is
	// ignored: for example a DistributedSampler, for one rank's shard.
	Sampler Sampler
	// DropLast drops the last batch of an epoch when it is incomplete.
	DropLast bool
	// Seed determines the permutations and every image's augmentation.
	Seed uint64
	// Workers is the number of goroutines that augment images;
	// 0 means runtime.NumCPU(). The batches do not depend on it.
	Workers int
	// Prefetch is the number of batches being prepared or waiting ahead of
	// the consumer; 0 means 2*Workers.
	Prefetch int
}

// Sampler chooses the images that an epoch of a [Loader] visits, as
// indices into its set, in order. [DistributedSampler] is one.
type Sampler interface {
	// Indices returns the indices of epoch; there must be NumSamples of them.
	Indices(epoch int) []int
	// NumSamples returns the number of indices of every epoch.
	NumSamples() int
}

// Batch is a batch of augmented, normalized images and their labels. Its
// buffers belong to the loader's pool: call Release when done with it.
type Batch struct {
	// X holds N images as float32 NCHW (N×3×32×32), normalized.
	X []float32
	// Y holds the N labels.
	Y []int64
	// N is the number of images, BatchSize except maybe for the last batch.
	N int
	// Epoch and Index place the batch: it is batch Index of epoch Epoch.
	Epoch, Index int

	x        []float32 // full-size buffers behind X and Y
	y        []int64
	free     chan *Batch
	released bool
}

// Release returns the batch's buffers to the loader for reuse. The batch
// must not be used afterwards; releasing it twice panics.
func (b *Batch) Release() {
	if b.released {
		panic("dataset: Batch released twice")
	}
	b.released = true
	select {
	case b.free <- b:
	default: // the pool is full: let the collector have it
	}
}

// Loader turns a Set into batches for training or evaluation: a permutation
// per epoch, goroutines that run a transforms.Pipeline on each image
// straight into a batch buffer, batches delivered in order with a bounded
// prefetch, and buffers recycled so that a consumer that releases its
// batches makes the loader allocate nothing per batch.
//
// Each image's augmentation draws from a generator seeded by (Seed, epoch,
// image index), so the batches depend only on the configuration, the epoch
// and the set, not on the number of goroutines or their timing; with a
// Sampler, an image is augmented as it would be in any other shard.
type Loader struct {
	set  *Set
	pipe *transforms.Pipeline
	cfg  LoaderConfig
	free chan *Batch

	mu     sync.Mutex
	closed bool
	stop   context.CancelFunc // cancels base, ending every epoch
	base   context.Context
	wg     sync.WaitGroup // every goroutine of every epoch
}

// NewLoader returns a loader of set through pipe (for example
// transforms.SeedTrain() or transforms.SeedTest()).
func NewLoader(set *Set, pipe *transforms.Pipeline, cfg LoaderConfig) (*Loader, error) {
	if set == nil || pipe == nil || pipe.Normalize == nil {
		return nil, errors.New("dataset: NewLoader needs a set and a pipeline with Normalize")
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("dataset: NewLoader: %w", err)
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("dataset: NewLoader: batch size %d, want > 0", cfg.BatchSize)
	}
	if cfg.Workers < 0 || cfg.Prefetch < 0 {
		return nil, fmt.Errorf("dataset: NewLoader: workers %d, prefetch %d, want >= 0", cfg.Workers, cfg.Prefetch)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	if cfg.Sampler != nil && cfg.Sampler.NumSamples() < 0 {
		return nil, fmt.Errorf("dataset: NewLoader: sampler has %d samples", cfg.Sampler.NumSamples())
	}
	l := &Loader{set: set, pipe: pipe, cfg: cfg}
	l.base, l.stop = context.WithCancel(context.Background())
	// Room for every batch in flight plus two in the consumer's hands. The
	// buffers are made as the first batches need them, so a loader whose
	// epochs never run (the training loop's device path) holds none.
	l.free = make(chan *Batch, cfg.Prefetch+2)
	return l, nil
}

// Config returns the loader's configuration, defaults filled in.
func (l *Loader) Config() LoaderConfig { return l.cfg }

// NumBatches returns the number of batches of every epoch.
func (l *Loader) NumBatches() int {
	n, bs := l.numSamples(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / bs
	}
	return (n + bs - 1) / bs
}

// Close stops the goroutines of every running epoch and waits for them to
// exit; those epochs end with ErrClosed, and later ones yield only that.
// Batches already handed out stay valid.
func (l *Loader) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.stop()
	l.wg.Wait()
}

// numSamples returns the number of images of every epoch.
func (l *Loader) numSamples() int {
	if l.cfg.Sampler != nil {
		return l.cfg.Sampler.NumSamples()
	}
	return l.set.Len()
}

// newBatch makes batch buffers: BatchSize images, or fewer when an epoch
// has fewer (a batch never holds more than a whole epoch).
func (l *Loader) newBatch() *Batch {
	bs := min(l.cfg.BatchSize, l.numSamples())
	return &Batch{x: make([]float32, bs*ImageSize), y: make([]int64, bs), free: l.free}
}

// getBatch takes a buffer from the pool, or makes one if the pool is empty
// (the first batches, or a consumer that holds them all).
func (l *Loader) getBatch() *Batch {
	select {
	case b := <-l.free:
		b.released = false
		return b
	default:
		return l.newBatch()
	}
}

// Epoch returns an iterator over the batches of the given epoch, in order:
//
//	for b, err := range loader.Epoch(ctx, epoch) {
//		if err != nil { ... }   // ctx's error or ErrClosed; the last value
//		use(b.X, b.Y)
//		b.Release()
//	}
//
// Leaving the loop early stops the epoch's goroutines before the loop
// statement ends. Several epochs may run at once.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			yield(nil, ErrClosed)
			return
		}
		perm, err := l.order(epoch)
		if err != nil {
			l.mu.Unlock()
			yield(nil, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		unhook := context.AfterFunc(l.base, cancel)
		defer unhook()
		e := l.start(ctx, epoch, perm)
		l.mu.Unlock()
		defer e.finish(cancel)

		stopped := func() {
			err := context.Cause(ctx)
			if l.base.Err() != nil {
				err = ErrClosed
			}
			yield(nil, err)
		}
		for i := range e.nb {
			if ctx.Err() != nil { // even if batch i is ready
				stopped()
				return
			}
			var b *Batch
			select {
			case b = <-e.slots[i%len(e.slots)]:
			case <-ctx.Done():
				stopped()
				return
			}
			<-e.tokens // batch i left: batch i+Prefetch may start
			if !yield(b, nil) {
				return
			}
		}
	}
}

// epochRun is the state of one running epoch.
type epochRun struct {
	l      *Loader
	epoch  int
	perm   []int32
	nb     int
	jobs   chan int       // batch numbers to make
	tokens chan struct{}  // one per batch started and not yet taken
	slots  []chan *Batch  // batch i waits in slots[i%Prefetch]
	wg     sync.WaitGroup // this epoch's goroutines
}

// start launches the feeder and the workers of an epoch that visits perm.
// l.mu is held.
func (l *Loader) start(ctx context.Context, epoch int, perm []int32) *epochRun {
	k := l.cfg.Prefetch
	e := &epochRun{
		l: l, epoch: epoch, perm: perm, nb: l.NumBatches(),
		jobs: make(chan int, k), tokens: make(chan struct{}, k), slots: make([]chan *Batch, k),
	}
	for i := range e.slots {
		e.slots[i] = make(chan *Batch, 1)
	}
	n := l.cfg.Workers + 1
	e.wg.Add(n)
	l.wg.Add(n)
	go e.feed(ctx)
	for range l.cfg.Workers {
		go e.work(ctx)
	}
	return e
}

// feed hands out batch numbers, at most Prefetch ahead of the consumer.
func (e *epochRun) feed(ctx context.Context) {
	defer e.done()
	defer close(e.jobs)
	for i := range e.nb {
		select {
		case e.tokens <- struct{}{}:
		case <-ctx.Done():
			return
		}
		select {
		case e.jobs <- i:
		case <-ctx.Done():
			return
		}
	}
}

// work makes batches: each image is loaded, augmented with its own
// generator and normalized into the batch buffer.
func (e *epochRun) work(ctx context.Context) {
	defer e.done()
	l := e.l
	img := transforms.NewImage(Height, Width)
	var pcg rand.PCG
	rng := rand.New(&pcg)
	bs := l.cfg.BatchSize
	for i := range e.jobs {
		if ctx.Err() != nil {
			return
		}
		b := l.getBatch()
		lo := i * bs
		n := min(bs, len(e.perm)-lo)
		b.N, b.Epoch, b.Index = n, e.epoch, i
		b.X, b.Y = b.x[:n*ImageSize], b.y[:n]
		for j := range n {
			idx := int(e.perm[lo+j])
			img.Load(l.set.Image(idx))
			pcg.Seed(imageSeed(l.cfg.Seed, e.epoch, idx))
			l.pipe.RunAt(img, rng, b.X[j*ImageSize:(j+1)*ImageSize], e.epoch, idx)
			b.Y[j] = int64(l.set.Labels[idx])
		}
		select {
		case e.slots[i%len(e.slots)] <- b:
		case <-ctx.Done():
			b.Release()
			return
		}
	}
}

func (e *epochRun) done() {
	e.wg.Done()
	e.l.wg.Done()
}

// finish stops the epoch's goroutines, waits for them and recycles the
// batches nobody took.
func (e *epochRun) finish(cancel context.CancelFunc) {
	cancel()
	e.wg.Wait()
	for _, s := range e.slots {
		select {
		case b := <-s:
			b.Release()
		default:
		}
	}
}

// order returns the order in which epoch visits the images: the sampler's,
// checked, or the loader's own.
func (l *Loader) order(epoch int) ([]int32, error) {
	if s := l.cfg.Sampler; s != nil {
		idx := s.Indices(epoch)
		if len(idx) != s.NumSamples() {
			return nil, fmt.Errorf("dataset: sampler gave %d indices for epoch %d, want its NumSamples %d", len(idx), epoch, s.NumSamples())
		}
		perm := make([]int32, len(idx))
		for i, v := range idx {
			if v < 0 || v >= l.set.Len() {
				return nil, fmt.Errorf("dataset: sampler index %d of epoch %d is outside the set of %d images", v, epoch, l.set.Len())
			}
			perm[i] = int32(v)
		}
		return perm, nil
	}
	perm := make([]int32, l.set.Len())
	for i := range perm {
		perm[i] = int32(i)
	}
	if l.cfg.Shuffle {
		s1, s2 := imageSeed(l.cfg.Seed, epoch, -1)
		r := rand.New(rand.NewPCG(s1, s2))
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	return perm, nil
}

// imageSeed derives the two PCG seed words of image idx in epoch from the
// loader's seed (idx -1 seeds the epoch's permutation).
func imageSeed(seed uint64, epoch, idx int) (uint64, uint64) {
	e := mix64(seed ^ mix64(uint64(epoch)+0x9e3779b97f4a7c15))
	return e, mix64(e ^ mix64(uint64(int64(idx))+0xd1b54a32d192ed03))
}

// mix64 is SplitMix64's finalizer: a bijection that scrambles its bits.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
