package transforms

import (
	"runtime"
	"testing"
	"time"
)

// benchTransform measures one transform forced on a 32x32 image.
func benchTransform(b *testing.B, t Transform) {
	r := newRand(1)
	src := smoothImage(r, 32, 32)
	img := NewImage(32, 32)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for b.Loop() {
		img.Load(src.Pix)
		t.ApplyAlways(img, r)
	}
	reportCPU(b, cpu)
}

// reportCPU reports the calling thread's CPU time per operation since cpu.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := threadCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkHorizontalFlip(b *testing.B) { benchTransform(b, &HorizontalFlip{P: 1}) }

func BenchmarkShiftScaleRotate(b *testing.B) {
	benchTransform(b, &ShiftScaleRotate{ShiftLimit: 0.15, ScaleLimit: 0.15, RotateLimit: 15, P: 1})
}

func BenchmarkCoarseDropout(b *testing.B) {
	benchTransform(b, &CoarseDropout{MinHoles: 2, MaxHoles: 2, MinHeight: 8, MaxHeight: 8, MinWidth: 8, MaxWidth: 8, P: 1})
}

func BenchmarkRandomBrightnessContrast(b *testing.B) {
	benchTransform(b, &RandomBrightnessContrast{BrightnessLimit: 0.2, ContrastLimit: 0.2, BrightnessByMax: true, P: 1})
}

func BenchmarkHueSaturationValue(b *testing.B) {
	benchTransform(b, &HueSaturationValue{HueShiftLimit: 20, SatShiftLimit: 30, ValShiftLimit: 20, P: 1})
}

// benchPipeline measures a whole pipeline per image, normalization included,
// on one goroutine.
func benchPipeline(b *testing.B, p *Pipeline) {
	r := newRand(1)
	src := smoothImage(r, 32, 32)
	img := NewImage(32, 32)
	dst := make([]float32, 3*32*32)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := threadCPU()
	for b.Loop() {
		img.Load(src.Pix)
		p.Run(img, r, dst)
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkSeedTrainImage(b *testing.B) { benchPipeline(b, SeedTrain()) }
func BenchmarkSeedTestImage(b *testing.B)  { benchPipeline(b, SeedTest()) }
