//go:build unix

package dataset

import (
	"context"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gotrain/transforms"
)

// benchSet returns n synthetic 32x32 images, smooth color ramps plus noise,
// so that the color transforms see varied hues as in photographs.
func benchSet(n int) *Set {
	r := rand.New(rand.NewPCG(1, 2))
	s := &Set{Images: make([]byte, n*ImageSize), Labels: make([]uint8, n)}
	for i := range n {
		img := s.Image(i)
		a, b, c := r.Float64()*6, r.Float64()*6, r.Float64()*6
		for y := range Height {
			for x := range Width {
				p := (y*Width + x) * 3
				img[p] = uint8(128 + 100*math.Sin(a+float64(x)/5) + float64(r.IntN(20)))
				img[p+1] = uint8(128 + 100*math.Cos(b+float64(y)/7) + float64(r.IntN(20)))
				img[p+2] = uint8(128 + 90*math.Sin(c+float64(x+y)/9))
			}
		}
		s.Labels[i] = uint8(i % len(Classes))
	}
	return s
}

// processCPU returns the CPU time used so far by the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLoader measures whole epochs of 10,240 images in batches of 128: the
// augmentation pipeline, batching, ordering and buffer recycling. It
// reports images per second of wall time and CPU microseconds per image
// over all goroutines (the second is what the loader takes from training
// on a busy machine).
func benchLoader(b *testing.B, pipe *transforms.Pipeline, workers int) {
	const n = 10240
	set := benchSet(n)
	l, err := NewLoader(set, pipe, LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1, Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	epoch := 0
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		for batch, err := range l.Epoch(ctx, epoch) {
			if err != nil {
				b.Fatal(err)
			}
			batch.Release()
		}
		epoch++
	}
	images := float64(b.N) * n
	b.ReportMetric(images/b.Elapsed().Seconds(), "images/s")
	if c := processCPU() - cpu; c > 0 {
		b.ReportMetric(float64(c.Microseconds())/images, "cpu-µs/image")
	}
}

func BenchmarkLoaderSeedTrain(b *testing.B)          { benchLoader(b, transforms.SeedTrain(), 0) }
func BenchmarkLoaderSeedTrainOneWorker(b *testing.B) { benchLoader(b, transforms.SeedTrain(), 1) }
func BenchmarkLoaderSeedTest(b *testing.B)           { benchLoader(b, transforms.SeedTest(), 0) }
