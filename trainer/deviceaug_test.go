package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
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

// augmentDevices are the devices to test the device path on: the CPU, and the
// first CUDA device where there is one.
func augmentDevices() []torch.Device {
	if torch.CUDAIsAvailable() {
		return []torch.Device{torch.CPU, torch.CUDA(0)}
	}
	return []torch.Device{torch.CPU}
}

// readBatch turns b into tensors on dev the way the step does, and reads
// them back.
func readBatch(t *testing.T, b *trainBatch, dev torch.Device, channelsLast bool) hostBatch {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	x, y, err := b.tensors(dev, channelsLast)
	if err != nil {
		t.Fatal(err)
	}
	hb := hostBatch{index: b.Index, n: b.N, contiguous: x.IsContiguous()}
	if hb.x, err = x.Bytes(); err != nil {
		t.Fatal(err)
	}
	if hb.y, err = y.Bytes(); err != nil {
		t.Fatal(err)
	}
	if x.Device() != dev || y.Device() != dev {
		t.Fatalf("batch %d on %v and %v, want %v", b.Index, x.Device(), y.Device(), dev)
	}
	if got := x.Shape(); !slices.Equal(got, []int64{int64(b.N), 3, dataset.Height, dataset.Width}) {
		t.Fatalf("batch %d: images of shape %v", b.Index, got)
	}
	return hb
}

func readEpoch(t *testing.T, seq func(func(*trainBatch, error) bool), dev torch.Device, channelsLast bool) []hostBatch {
	t.Helper()
	var out []hostBatch
	for b, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readBatch(t, b, dev, channelsLast))
		b.Release()
	}
	return out
}

// TestDeviceBatchesMatchLoader checks that the device path makes the CPU
// loader's batches, bit for bit (images, labels, memory layout), over two
// epochs, with an incomplete last batch, in both layouts, and from a batch
// in the middle of an epoch as a resumed run asks for them; on the CPU, and
// on CUDA where there is one.
func TestDeviceBatchesMatchLoader(t *testing.T) {
	for _, dev := range augmentDevices() {
		for _, channelsLast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/channels-last=%v", dev, channelsLast), func(t *testing.T) { testDeviceBatches(t, dev, channelsLast) })
		}
	}
}

func testDeviceBatches(t *testing.T, dev torch.Device, channelsLast bool) {
	set := noiseSet(45, 1)
	pipe := transforms.SeedTrain()
	loader, err := dataset.NewLoader(set, pipe, dataset.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	d, err := uploadTrainingSet(dev, set, pipe, channelsLast)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	d.loader = loader
	cpuRun := &run{train: loader}
	for epoch := range 2 {
		cpuRun.state.Epoch = epoch
		want := readEpoch(t, cpuRun.batches(context.Background()), torch.CPU, channelsLast)
		got := readEpoch(t, d.epoch(context.Background(), epoch, 0), dev, channelsLast)
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
		tail := readEpoch(t, d.epoch(context.Background(), epoch, 1), dev, channelsLast)
		if len(tail) != 2 || tail[0].index != 1 || !bytes.Equal(tail[0].x, want[1].x) || !bytes.Equal(tail[1].x, want[2].x) {
			t.Errorf("epoch %d from batch 1: not the epoch's batches 1 and 2", epoch)
		}
	}
	if bytes.Equal(readEpoch(t, d.epoch(context.Background(), 0, 0), dev, channelsLast)[0].x,
		readEpoch(t, d.epoch(context.Background(), 1, 0), dev, channelsLast)[0].x) {
		t.Error("epochs 0 and 1 start with the same batch")
	}
}

// TestDeviceBatchesStop checks that a cancelled context ends the epoch with
// its error.
func TestDeviceBatchesStop(t *testing.T) {
	set := noiseSet(8, 2)
	loader, err := dataset.NewLoader(set, transforms.SeedTrain(), dataset.LoaderConfig{BatchSize: 4, Shuffle: true})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	d, err := uploadTrainingSet(torch.CPU, set, transforms.SeedTrain(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	d.loader = loader
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for b, err := range d.epoch(ctx, 0, 0) {
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

func TestNewDeviceBatchesModes(t *testing.T) {
	set := noiseSet(4, 3)
	log := logrus.New()
	var logged bytes.Buffer
	log.SetOutput(&logged)
	unsupported := &transforms.Pipeline{Augment: &transforms.HorizontalFlip{P: 0.5}, Normalize: transforms.SeedTrain().Normalize}
	for _, c := range []struct {
		mode   string
		dev    torch.Device
		pipe   *transforms.Pipeline
		on     bool
		errHas string
	}{
		{mode: "off", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "auto", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "", dev: torch.CPU, pipe: transforms.SeedTrain()},
		{mode: "on", dev: torch.CPU, pipe: transforms.SeedTrain(), on: true},
		{mode: "on", dev: torch.CPU, pipe: transforms.SeedTest(), on: true},
		{mode: "on", dev: torch.CPU, pipe: unsupported, errHas: "HorizontalFlip"},
	} {
		loader, err := dataset.NewLoader(set, c.pipe, dataset.LoaderConfig{BatchSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.DeviceAugment = c.mode
		d, err := newDeviceBatches(cfg, c.dev, set, c.pipe, loader, log)
		loader.Close()
		switch {
		case c.errHas != "":
			if err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), "device augmentation") {
				t.Errorf("mode %q, pipeline %v: error %v, want one naming %s", c.mode, c.pipe.Augment, err, c.errHas)
			}
		case err != nil:
			t.Errorf("mode %q: %v", c.mode, err)
		case (d != nil) != c.on:
			t.Errorf("mode %q on %v: device path %v, want %v", c.mode, c.dev, d != nil, c.on)
		}
		d.close()
	}
	cfg := DefaultConfig()
	for mode, ok := range map[string]bool{"auto": true, "on": true, "off": true, "": true, "yes": false, "cuda": false} {
		cfg.DeviceAugment = mode
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("Validate with device augmentation %q: %v", mode, err)
		}
	}
}

// BenchmarkDeviceDraw measures the host's part of a device batch of 512:
// seeding each image's generator and drawing its parameters.
func BenchmarkDeviceDraw(b *testing.B) {
	set := noiseSet(512, 4)
	pipe := transforms.SeedTrain()
	loader, err := dataset.NewLoader(set, pipe, dataset.LoaderConfig{BatchSize: 512, Shuffle: true})
	if err != nil {
		b.Fatal(err)
	}
	defer loader.Close()
	d, err := uploadTrainingSet(torch.CPU, set, pipe, false)
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()
	d.loader = loader
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for tb, err := range d.epoch(context.Background(), i, 0) {
			if err != nil {
				b.Fatal(err)
			}
			_ = tb
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/image")
}
