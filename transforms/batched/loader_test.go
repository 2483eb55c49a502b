package batched

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/torch"
	"gotrain/transforms"
)

// noiseSet returns n images of random pixels with random labels.
func noiseSet(n int, seed uint64) *dataset.Set {
	r := rand.New(rand.NewPCG(seed, 7))
	s := &dataset.Set{Images: make([]byte, n*dataset.ImageSize), Labels: make([]uint8, n)}
	for i := range s.Images {
		s.Images[i] = uint8(r.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(r.IntN(len(dataset.Classes)))
	}
	return s
}

// hostBatch is a batch as the training step sees it, read back.
type hostBatch struct {
	index, n   int
	x, y       []byte
	contiguous bool
}

// readBatch reads back a batch's tensors x, y, which should be on dev.
func readBatch(t *testing.T, index, n int, x, y *torch.Tensor, dev torch.Device) hostBatch {
	t.Helper()
	var err error
	hb := hostBatch{index: index, n: n, contiguous: x.IsContiguous()}
	if hb.x, err = x.Bytes(); err != nil {
		t.Fatal(err)
	}
	if hb.y, err = y.Bytes(); err != nil {
		t.Fatal(err)
	}
	if x.Device() != dev || y.Device() != dev {
		t.Fatalf("batch %d on %v and %v, want %v", index, x.Device(), y.Device(), dev)
	}
	if got := x.Shape(); !slices.Equal(got, []int64{int64(n), 3, dataset.Height, dataset.Width}) {
		t.Fatalf("batch %d: images of shape %v", index, got)
	}
	return hb
}

// readLoaderEpoch reads back an epoch of the dataset loader, made into
// tensors as the training step makes them (infer.BatchTensors).
func readLoaderEpoch(t *testing.T, l *dataset.Loader, epoch int, channelsLast bool) []hostBatch {
	t.Helper()
	var out []hostBatch
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		func() {
			s := torch.NewScope()
			defer s.Close()
			x, y, err := infer.BatchTensors(b, torch.CPU, channelsLast)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, readBatch(t, b.Index, b.N, x, y, torch.CPU))
		}()
		b.Release()
	}
	return out
}

// readEpoch reads back the batches of a device Loader's epoch.
func readEpoch(t *testing.T, seq iter.Seq2[*Batch, error], dev torch.Device) []hostBatch {
	t.Helper()
	var out []hostBatch
	for b, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		func() {
			s := torch.NewScope()
			defer s.Close()
			x, y, err := b.Tensors()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, readBatch(t, b.Index, b.N, x, y, dev))
		}()
	}
	return out
}

// TestLoaderMatchesDatasetLoader checks that the device Loader makes the
// dataset loader's batches, bit for bit (images, labels, memory layout),
// over two epochs, with an incomplete last batch, in both layouts, and from
// a batch in the middle of an epoch as a resumed run asks for them; on the
// CPU, and on CUDA where there is one.
func TestLoaderMatchesDatasetLoader(t *testing.T) {
	for _, dev := range devices() {
		for _, channelsLast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/channels-last=%v", dev, channelsLast), func(t *testing.T) { testLoader(t, dev, channelsLast) })
		}
	}
}

func testLoader(t *testing.T, dev torch.Device, channelsLast bool) {
	set := noiseSet(45, 1)
	pipe := transforms.SeedTrain()
	loader, err := dataset.NewLoader(set, pipe, dataset.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	d, err := NewLoader(dev, set, pipe, loader, Options{ChannelsLast: channelsLast})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for epoch := range 2 {
		want := readLoaderEpoch(t, loader, epoch, channelsLast)
		got := readEpoch(t, d.Epoch(context.Background(), epoch, 0), dev)
		if len(want) != 3 || len(got) != len(want) || want[2].n != 13 {
			t.Fatalf("epoch %d: %d device batches, %d loader batches, want 3 (16+16+13)", epoch, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.index != w.index || g.n != w.n || g.contiguous != w.contiguous {
				t.Fatalf("epoch %d, batch %d: device batch %d of %d images (contiguous %v), loader batch %d of %d (contiguous %v)",
					epoch, i, g.index, g.n, g.contiguous, w.index, w.n, w.contiguous)
			}
			if !bytes.Equal(g.y, w.y) {
				t.Errorf("epoch %d, batch %d: labels differ", epoch, i)
			}
			if !bytes.Equal(g.x, w.x) {
				t.Errorf("%v, epoch %d, batch %d (channels-last %v): images differ from the loader's", dev, epoch, i, channelsLast)
			}
		}
		// Resuming at batch 1 yields batches 1 and 2, the same ones.
		tail := readEpoch(t, d.Epoch(context.Background(), epoch, 1), dev)
		if len(tail) != 2 || tail[0].index != 1 || !bytes.Equal(tail[0].x, want[1].x) || !bytes.Equal(tail[1].x, want[2].x) {
			t.Errorf("epoch %d from batch 1: not the epoch's batches 1 and 2", epoch)
		}
	}
	if bytes.Equal(readEpoch(t, d.Epoch(context.Background(), 0, 0), dev)[0].x,
		readEpoch(t, d.Epoch(context.Background(), 1, 0), dev)[0].x) {
		t.Error("epochs 0 and 1 start with the same batch")
	}
}

// TestLoaderStop checks that a cancelled context ends the epoch with its
// error.
func TestLoaderStop(t *testing.T) {
	set := noiseSet(8, 2)
	loader, err := dataset.NewLoader(set, transforms.SeedTrain(), dataset.LoaderConfig{BatchSize: 4, Shuffle: true})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	d, err := NewLoader(torch.CPU, set, transforms.SeedTrain(), loader, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for b, err := range d.Epoch(ctx, 0, 0) {
		if err != nil {
			if err != context.Canceled || n != 1 {
				t.Errorf("after %d batches: %v, want context.Canceled after 1", n, err)
			}
			break
		}
		n++
		if b.N != 4 {
			t.Errorf("batch of %d images, want 4", b.N)
		}
		cancel()
	}
	if n != 1 {
		t.Errorf("%d batches after cancel", n)
	}
}

// BenchmarkLoaderDraw measures the host's part of a device batch of 512:
// seeding each image's generator and drawing its parameters.
func BenchmarkLoaderDraw(b *testing.B) {
	set := noiseSet(512, 4)
	pipe := transforms.SeedTrain()
	loader, err := dataset.NewLoader(set, pipe, dataset.LoaderConfig{BatchSize: 512, Shuffle: true})
	if err != nil {
		b.Fatal(err)
	}
	defer loader.Close()
	d, err := NewLoader(torch.CPU, set, pipe, loader, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for tb, err := range d.Epoch(context.Background(), i, 0) {
			if err != nil {
				b.Fatal(err)
			}
			_ = tb
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/image")
}
