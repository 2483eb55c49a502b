package dataset

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"gotrain/transforms"
)

// TestOrderAndImageSeedRebuildBatches makes every batch of two epochs by
// hand from Order and ImageSeed, running the pipeline on each image with
// its generator, and checks that the loader's batches are those, value for
// value, and that Order is a permutation that changes with the epoch.
func TestOrderAndImageSeedRebuildBatches(t *testing.T) {
	set := indexedSet(70)
	pipe := transforms.SeedTrain()
	const bs = 16
	l := newTestLoader(t, set, pipe, LoaderConfig{BatchSize: bs, Shuffle: true, Seed: 9, Workers: 3})
	img := transforms.NewImage(Height, Width)
	want := make([]float32, ImageSize)
	var orders [][]int32
	for epoch := range 2 {
		order, err := l.Order(epoch)
		if err != nil {
			t.Fatal(err)
		}
		if s := slices.Sorted(slices.Values(order)); len(s) != set.Len() || s[0] != 0 || s[len(s)-1] != int32(set.Len()-1) || len(slices.Compact(s)) != set.Len() {
			t.Fatalf("epoch %d: Order is not a permutation of 0..%d: %v", epoch, set.Len()-1, order)
		}
		orders = append(orders, order)
		n := 0
		for b, err := range l.Epoch(context.Background(), epoch) {
			if err != nil {
				t.Fatal(err)
			}
			for j := range b.N {
				idx := int(order[b.Index*bs+j])
				img.Load(set.Image(idx))
				pipe.Run(img, rand.New(rand.NewPCG(l.ImageSeed(epoch, idx))), want)
				if !slices.Equal(b.X[j*ImageSize:(j+1)*ImageSize], want) {
					t.Fatalf("epoch %d, batch %d, image %d (set index %d): not the pipeline's output with ImageSeed's generator", epoch, b.Index, j, idx)
				}
				if b.Y[j] != int64(set.Labels[idx]) {
					t.Fatalf("epoch %d, batch %d, image %d: label %d, want %d", epoch, b.Index, j, b.Y[j], set.Labels[idx])
				}
			}
			n += b.N
			b.Release()
		}
		if n != set.Len() {
			t.Fatalf("epoch %d: %d images, want %d", epoch, n, set.Len())
		}
	}
	if slices.Equal(orders[0], orders[1]) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if a, b := l.ImageSeed(0, 3); a == 0 && b == 0 {
		t.Error("ImageSeed is zero")
	}
}
