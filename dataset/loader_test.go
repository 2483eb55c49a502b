package dataset

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"gotrain/transforms"
)

// indexedSet returns n images whose first pixel spells the image's index
// (red = low byte, green = high byte) over a fixed noise pattern, labelled
// index mod 10.
func indexedSet(n int) *Set {
	s := &Set{Images: make([]byte, n*ImageSize), Labels: make([]uint8, n)}
	for i := range n {
		img := s.Image(i)
		for j := range img {
			img[j] = uint8((j*131 + i*7) % 251)
		}
		img[0], img[1] = uint8(i), uint8(i>>8)
		s.Labels[i] = uint8(i % 10)
	}
	return s
}

// decodeIndex recovers the index of a normalized image from its first
// pixel, by inverting the normalization table.
func decodeIndex(t *testing.T, x []float32) int {
	t.Helper()
	plane := Height * Width
	return byteOf(t, x[0], 0) | byteOf(t, x[plane], 1)<<8
}

var normTable = func() (lut [3][256]float32) {
	n := transforms.NewNormalize(transforms.CIFAR10Mean, transforms.CIFAR10Std, 255)
	img := transforms.NewImage(1, 1)
	out := make([]float32, 3)
	for v := range 256 {
		img.Pix[0], img.Pix[1], img.Pix[2] = uint8(v), uint8(v), uint8(v)
		n.ToCHW(img, out)
		lut[0][v], lut[1][v], lut[2][v] = out[0], out[1], out[2]
	}
	return lut
}()

func byteOf(t *testing.T, f float32, c int) int {
	t.Helper()
	for v, g := range normTable[c] {
		if g == f {
			return v
		}
	}
	t.Fatalf("%v is not a normalized value of channel %d", f, c)
	return 0
}

// collect runs one epoch and returns its batches' images (decoded indices),
// labels and sizes, releasing every batch.
func collect(t *testing.T, l *Loader, epoch int) (idx [][]int, labels [][]int64) {
	t.Helper()
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		if b.Epoch != epoch || b.Index != len(idx) {
			t.Fatalf("batch %d of epoch %d says it is batch %d of epoch %d", len(idx), epoch, b.Index, b.Epoch)
		}
		if len(b.X) != b.N*3*Height*Width || len(b.Y) != b.N {
			t.Fatalf("batch %d: N=%d with %d floats and %d labels", b.Index, b.N, len(b.X), len(b.Y))
		}
		var ids []int
		for j := range b.N {
			ids = append(ids, decodeIndex(t, b.X[j*ImageSize:(j+1)*ImageSize]))
		}
		idx = append(idx, ids)
		labels = append(labels, append([]int64(nil), b.Y...))
		b.Release()
	}
	return idx, labels
}

func newTestLoader(t *testing.T, set *Set, pipe *transforms.Pipeline, cfg LoaderConfig) *Loader {
	t.Helper()
	l, err := NewLoader(set, pipe, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestLoaderVisitsEveryImageOnce(t *testing.T) {
	set := indexedSet(1003)
	l := newTestLoader(t, set, transforms.SeedTest(), LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1, Workers: 3})
	if got := l.NumBatches(); got != 16 {
		t.Fatalf("NumBatches = %d, want 16 (15 full + 43)", got)
	}
	var orders [][]int
	for epoch := range 3 {
		idx, labels := collect(t, l, epoch)
		if len(idx) != 16 || len(idx[15]) != 1003-15*64 {
			t.Fatalf("epoch %d: %d batches, last of %d", epoch, len(idx), len(idx[len(idx)-1]))
		}
		seen := make([]bool, 1003)
		var order []int
		for bi, ids := range idx {
			for j, id := range ids {
				if seen[id] {
					t.Fatalf("epoch %d: image %d twice", epoch, id)
				}
				seen[id] = true
				order = append(order, id)
				if labels[bi][j] != int64(set.Labels[id]) {
					t.Fatalf("epoch %d batch %d: image %d has label %d, want %d", epoch, bi, id, labels[bi][j], set.Labels[id])
				}
			}
		}
		if len(order) != 1003 {
			t.Fatalf("epoch %d visited %d images", epoch, len(order))
		}
		orders = append(orders, order)
	}
	if equalInts(orders[0], orders[1]) || equalInts(orders[1], orders[2]) {
		t.Error("two epochs visited the images in the same order")
	}
	if isIdentity(orders[0]) {
		t.Error("shuffled epoch is in set order")
	}
	// The test pipeline is normalization only: X is exactly the normalized image.
	for b, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		id := decodeIndex(t, b.X)
		img := set.Image(id)
		for c := range 3 {
			for p := range Height * Width {
				if got, want := b.X[c*Height*Width+p], normTable[c][img[p*3+c]]; got != want {
					t.Fatalf("image %d channel %d pixel %d = %v, want %v", id, c, p, got, want)
				}
			}
		}
		b.Release()
		break
	}
}

func TestLoaderUnshuffledAndDropLast(t *testing.T) {
	set := indexedSet(103)
	l := newTestLoader(t, set, transforms.SeedTest(), LoaderConfig{BatchSize: 10, DropLast: true, Workers: 2})
	if got := l.NumBatches(); got != 10 {
		t.Fatalf("NumBatches = %d, want 10", got)
	}
	idx, _ := collect(t, l, 5)
	var order []int
	for _, ids := range idx {
		if len(ids) != 10 {
			t.Fatalf("batch of %d images with DropLast", len(ids))
		}
		order = append(order, ids...)
	}
	if len(order) != 100 || !isIdentity(order) {
		t.Fatalf("unshuffled epoch visited %v", order)
	}
	// A batch larger than the set with DropLast yields nothing.
	l2 := newTestLoader(t, set, transforms.SeedTest(), LoaderConfig{BatchSize: 200, DropLast: true})
	if idx, _ := collect(t, l2, 0); len(idx) != 0 || l2.NumBatches() != 0 {
		t.Fatalf("got %d batches, want none", len(idx))
	}
	// Without DropLast it is one batch of the whole set; its buffers are
	// sized by the set, not by the batch size (1<<40 images would not fit).
	l3 := newTestLoader(t, set, transforms.SeedTest(), LoaderConfig{BatchSize: 1 << 40, Workers: 2})
	if idx, _ := collect(t, l3, 0); len(idx) != 1 || len(idx[0]) != 103 || !isIdentity(idx[0]) {
		t.Fatalf("got %d batches, want one of all 103 images", len(idx))
	}
}

// epochData returns all the floats and labels of an epoch.
func epochData(t *testing.T, l *Loader, epoch int) ([]float32, []int64) {
	t.Helper()
	var xs []float32
	var ys []int64
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, b.X...)
		ys = append(ys, b.Y...)
		b.Release()
	}
	return xs, ys
}

func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	set := indexedSet(300)
	cfg := LoaderConfig{BatchSize: 32, Shuffle: true, Seed: 42, Workers: 1, Prefetch: 1}
	one := newTestLoader(t, set, transforms.SeedTrain(), cfg)
	cfg.Workers, cfg.Prefetch = 4, 0
	four := newTestLoader(t, set, transforms.SeedTrain(), cfg)
	cfg.Seed = 43
	other := newTestLoader(t, set, transforms.SeedTrain(), cfg)
	for epoch := range 2 {
		x1, y1 := epochData(t, one, epoch)
		x4, y4 := epochData(t, four, epoch)
		if len(x1) != 300*ImageSize || len(x4) != len(x1) {
			t.Fatalf("epoch %d: %d and %d floats", epoch, len(x1), len(x4))
		}
		for i := range x1 {
			if x1[i] != x4[i] {
				t.Fatalf("epoch %d: float %d is %v with 1 worker, %v with 4", epoch, i, x1[i], x4[i])
			}
		}
		for i := range y1 {
			if y1[i] != y4[i] {
				t.Fatalf("epoch %d: label %d differs", epoch, i)
			}
		}
		xo, _ := epochData(t, other, epoch)
		same := true
		for i := range xo {
			if xo[i] != x1[i] {
				same = false
				break
			}
		}
		if same {
			t.Fatalf("epoch %d: seeds 42 and 43 gave the same data", epoch)
		}
	}
}

func TestLoaderCancellation(t *testing.T) {
	set := indexedSet(500)
	base := runtime.NumGoroutine()
	l, err := NewLoader(set, transforms.SeedTrain(), LoaderConfig{BatchSize: 10, Shuffle: true, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}

	// Leaving the loop early stops the epoch's goroutines.
	n := 0
	for b, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
		if n++; n == 3 {
			break
		}
	}
	waitGoroutines(t, base, "after breaking out of an epoch")

	// Cancelling the context ends the epoch with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	n = 0
	for b, err := range l.Epoch(ctx, 1) {
		if err != nil {
			last = err
			continue
		}
		b.Release()
		if n++; n == 2 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || n > 2+l.Config().Prefetch {
		t.Fatalf("after cancel: last error %v after %d batches", last, n)
	}
	waitGoroutines(t, base, "after cancelling an epoch")

	// Close from another goroutine while the consumer is mid-epoch.
	errc := make(chan error, 1)
	got := make(chan struct{})
	go func() {
		var last error
		first := true
		for b, err := range l.Epoch(context.Background(), 2) {
			if err != nil {
				last = err
				continue
			}
			b.Release()
			if first {
				close(got)
				first = false
				time.Sleep(20 * time.Millisecond)
			}
		}
		errc <- last
	}()
	<-got
	l.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("epoch interrupted by Close ended with %v, want ErrClosed", err)
	}
	waitGoroutines(t, base, "after Close")

	// A closed loader yields only ErrClosed.
	for b, err := range l.Epoch(context.Background(), 3) {
		if b != nil || !errors.Is(err, ErrClosed) {
			t.Fatalf("closed loader yielded %v, %v", b, err)
		}
	}
	l.Close() // idempotent
}

// waitGoroutines waits up to a second for the goroutine count to fall back
// to base.
func waitGoroutines(t *testing.T, base int, when string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%s: %d goroutines, want %d\n%s", when, runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoaderRecyclesBuffers(t *testing.T) {
	set := indexedSet(640)
	l := newTestLoader(t, set, transforms.SeedTrain(), LoaderConfig{BatchSize: 16, Shuffle: true, Workers: 2})
	run := func(batches int) {
		n := 0
		for b, err := range l.Epoch(context.Background(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			b.Release()
			if n++; n == batches {
				break
			}
		}
	}
	run(40) // warm up
	short := testing.AllocsPerRun(3, func() { run(5) })
	long := testing.AllocsPerRun(3, func() { run(40) })
	// Allocations are per epoch (permutation, channels, worker state), not
	// per batch: 35 more batches may cost at most a handful.
	t.Logf("allocations: 5 batches %.0f, 40 batches %.0f", short, long)
	if long-short > 5 {
		t.Errorf("40 batches allocate %.0f times, 5 batches %.0f: batches are not recycled", long, short)
	}

	b := l.getBatch()
	b.Release()
	defer func() {
		if recover() == nil {
			t.Error("second Release did not panic")
		}
	}()
	b.Release()
}

func TestNewLoaderErrors(t *testing.T) {
	set := indexedSet(10)
	bad := &Set{Images: make([]byte, ImageSize), Labels: []uint8{10}}
	for name, f := range map[string]func() error{
		"nil set":      func() error { _, err := NewLoader(nil, transforms.SeedTest(), LoaderConfig{BatchSize: 1}); return err },
		"nil pipeline": func() error { _, err := NewLoader(set, nil, LoaderConfig{BatchSize: 1}); return err },
		"bad labels":   func() error { _, err := NewLoader(bad, transforms.SeedTest(), LoaderConfig{BatchSize: 1}); return err },
		"batch 0":      func() error { _, err := NewLoader(set, transforms.SeedTest(), LoaderConfig{}); return err },
		"workers -1": func() error {
			_, err := NewLoader(set, transforms.SeedTest(), LoaderConfig{BatchSize: 1, Workers: -1})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	l := newTestLoader(t, set, transforms.SeedTest(), LoaderConfig{BatchSize: 4})
	if c := l.Config(); c.Workers != runtime.NumCPU() || c.Prefetch != 2*c.Workers {
		t.Errorf("defaults: %+v", c)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isIdentity(a []int) bool {
	for i, v := range a {
		if v != i {
			return false
		}
	}
	return true
}

// TestLoaderSampler feeds the loader the shards of a DistributedSampler:
// each rank's batches hold its indices in the sampler's order, the shards
// together cover the set (padded as PyTorch pads), the batch count follows
// the shard, and every image is augmented as the unsharded loader augments
// the same index in the same epoch.
func TestLoaderSampler(t *testing.T) {
	const n, world, bs = 103, 2, 10
	set := indexedSet(n)
	whole := newTestLoader(t, set, transforms.SeedTrain(), LoaderConfig{BatchSize: 1, Seed: 9, Workers: 2})
	for epoch := range 2 {
		wx, _ := epochData(t, whole, epoch) // image i at wx[i*ImageSize:]
		seen := map[int]int{}
		for rank := range world {
			s, err := NewDistributedSampler(n, world, rank, true, 9, false)
			if err != nil {
				t.Fatal(err)
			}
			cfg := LoaderConfig{BatchSize: bs, Shuffle: true, Seed: 9, Workers: 3, Sampler: s}
			l := newTestLoader(t, set, transforms.SeedTest(), cfg)
			if got, want := l.NumBatches(), 6; got != want { // 52 indices
				t.Fatalf("NumBatches = %d, want %d", got, want)
			}
			idx, _ := collect(t, l, epoch)
			var flat []int
			for _, b := range idx {
				flat = append(flat, b...)
			}
			if want := s.Indices(epoch); !equalInts(flat, want) {
				t.Fatalf("rank %d epoch %d: loader visits %v, sampler says %v", rank, epoch, flat, want)
			}
			for _, i := range flat {
				seen[i]++
			}
			aug := newTestLoader(t, set, transforms.SeedTrain(), cfg)
			x, _ := epochData(t, aug, epoch)
			for j, i := range flat {
				a, b := x[j*ImageSize:(j+1)*ImageSize], wx[i*ImageSize:(i+1)*ImageSize]
				for k := range a {
					if a[k] != b[k] {
						t.Fatalf("rank %d epoch %d: image %d augmented differently than in the unsharded loader", rank, epoch, i)
					}
				}
			}
		}
		if len(seen) != n {
			t.Fatalf("epoch %d: shards cover %d of %d images", epoch, len(seen), n)
		}
	}
}

// shortSampler claims more indices than it gives.
type shortSampler struct{}

func (shortSampler) Indices(int) []int { return []int{0, 1} }
func (shortSampler) NumSamples() int   { return 3 }

func TestLoaderBadSampler(t *testing.T) {
	l := newTestLoader(t, indexedSet(10), transforms.SeedTest(), LoaderConfig{BatchSize: 2, Sampler: shortSampler{}})
	n := 0
	for _, err := range l.Epoch(context.Background(), 0) {
		n++
		if err == nil || !strings.Contains(err.Error(), "sampler gave 2 indices for epoch 0, want its NumSamples 3") {
			t.Fatalf("err = %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("epoch yielded %d values, want one error", n)
	}
}
