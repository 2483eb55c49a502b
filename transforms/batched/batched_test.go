package batched

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gotrain/torch"
	"gotrain/transforms"
)

const testH, testW = 32, 32

// testImages returns m images of four kinds, HWC: uniform noise (sharp
// edges everywhere, random colours), smooth gradients, values from a few
// levels (ties between channels, black, white) and constant images.
func testImages(m int, seed uint64) []uint8 {
	r := rand.New(rand.NewPCG(seed, 7))
	n := testH * testW * 3
	pix := make([]uint8, m*n)
	levels := []uint8{0, 1, 127, 128, 254, 255}
	for i := range m {
		img := pix[i*n : (i+1)*n]
		c := [3]int{r.IntN(256), r.IntN(256), r.IntN(256)}
		for p := range testH * testW {
			x, y := p%testW, p/testW
			for ch := range 3 {
				var v int
				switch i % 4 {
				case 0:
					v = r.IntN(256)
				case 1:
					v = (c[ch] + 5*x*(ch+1) + 3*y + r.IntN(9)) % 256
				case 2:
					v = int(levels[r.IntN(len(levels))])
				case 3:
					v = c[ch]
				}
				img[p*3+ch] = uint8(v)
			}
		}
	}
	return pix
}

// upload puts images and labels on the CPU device, freed when the test ends.
func upload(t *testing.T, pix []uint8, m int) (images, labels *torch.Tensor) {
	return uploadTo(t, pix, m, torch.CPU)
}

func uploadTo(t *testing.T, pix []uint8, m int, dev torch.Device) (images, labels *torch.Tensor) {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	lab := make([]int64, m)
	for i := range lab {
		lab[i] = int64(i % 10)
	}
	images = torch.Keep(torch.Must(torch.Must(torch.FromSlice(pix, int64(m), testH, testW, 3)).To(dev, false)))
	labels = torch.Keep(torch.Must(torch.Must(torch.FromSlice(lab)).To(dev, false)))
	t.Cleanup(func() { images.Free(); labels.Free() })
	return images, labels
}

// devices are the devices the comparisons run on: the CPU, and the first
// CUDA device where there is one.
func devices() []torch.Device {
	if torch.CUDAIsAvailable() {
		return []torch.Device{torch.CPU, torch.CUDA(0)}
	}
	return []torch.Device{torch.CPU}
}

// forcedAll runs every stage on every image, with limits wide enough for
// repeated reflections at the borders, 1 to 3 holes of random sizes, and
// brightness by the image mean.
func forcedAll() *transforms.Pipeline {
	return &transforms.Pipeline{
		Augment: &transforms.Compose{P: 1, Transforms: []transforms.Transform{
			&transforms.HorizontalFlip{P: 1},
			&transforms.ShiftScaleRotate{ShiftLimit: 0.6, ScaleLimit: 0.5, RotateLimit: 180, P: 1},
			&transforms.CoarseDropout{MinHoles: 1, MaxHoles: 3, MinHeight: 3, MaxHeight: 12, MinWidth: 1, MaxWidth: 40,
				Fill: [3]uint8{10, 200, 77}, P: 1},
			&transforms.OneOf{P: 1, Transforms: []transforms.Transform{
				&transforms.RandomBrightnessContrast{BrightnessLimit: 0.4, ContrastLimit: 0.6, P: 0.5},
				&transforms.HueSaturationValue{HueShiftLimit: 170, SatShiftLimit: 100, ValShiftLimit: 60, P: 0.5},
			}},
		}},
		Normalize: transforms.NewNormalize([3]float64{0.3, 0.5, 0.7}, [3]float64{0.2, 0.25, 0.3}, 255),
	}
}

func pipelines() map[string]func() *transforms.Pipeline {
	return map[string]func() *transforms.Pipeline{
		"SeedTrain": transforms.SeedTrain,
		"SeedTest":  transforms.SeedTest,
		"forced":    forcedAll,
		"crop": func() *transforms.Pipeline {
			return transforms.Train(transforms.TrainOptions{Flip: transforms.FlipRandom, Crop: 13})
		},
		"hsv only": func() *transforms.Pipeline {
			return &transforms.Pipeline{
				Augment: &transforms.Compose{P: 1, Transforms: []transforms.Transform{
					&transforms.HueSaturationValue{HueShiftLimit: 20, SatShiftLimit: 30, ValShiftLimit: 20, P: 1},
				}},
				Normalize: transforms.NewNormalize(transforms.CIFAR10Mean, transforms.CIFAR10Std, 255),
			}
		},
		"brightness by max, compose p 0.7": func() *transforms.Pipeline {
			return &transforms.Pipeline{
				Augment: &transforms.Compose{P: 0.7, Transforms: []transforms.Transform{
					&transforms.ShiftScaleRotate{ShiftLimit: 0.1, ScaleLimit: 0.1, RotateLimit: 30, P: 0.5},
					&transforms.RandomBrightnessContrast{BrightnessLimit: 0.3, ContrastLimit: 0.3, BrightnessByMax: true, P: 0.8},
				}},
				Normalize: transforms.NewNormalize(transforms.CIFAR10Mean, transforms.CIFAR10Std, 255),
			}
		},
	}
}

// TestMatchesCPUPipeline checks that, with each image's generator in the
// same state, the device path draws what Pipeline.Run draws (the generators
// end in the same state) and computes the same normalized pixels, bit for bit.
func TestMatchesCPUPipeline(t *testing.T) {
	const m = 40
	pix := testImages(m, 1)
	for _, dev := range devices() {
		images, labels := uploadTo(t, pix, m, dev)
		for name, mk := range pipelines() {
			t.Run(dev.String()+"/"+name, func(t *testing.T) { matchCPU(t, name, mk(), images, labels, pix) })
		}
	}
}

func matchCPU(t *testing.T, name string, pipe *transforms.Pipeline, images, labels *torch.Tensor, pix []uint8) {
	t.Helper()
	const m, batch = 40, 64
	s := torch.NewScope()
	defer s.Close()
	a, err := New(images, labels, pipe, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := rand.New(rand.NewPCG(3, uint64(len(name))))
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = r.IntN(m) // repeats, any order
	}
	params := make([]Params, batch)
	want := make([]float32, batch*3*testH*testW)
	img := transforms.NewImage(testH, testW)
	plane := 3 * testH * testW
	for i, k := range idx {
		cpu := rand.New(rand.NewPCG(uint64(i), 99))
		dev := rand.New(rand.NewPCG(uint64(i), 99))
		img.Load(pix[k*plane : (k+1)*plane])
		pipe.Run(img, cpu, want[i*plane:(i+1)*plane])
		a.Draw(dev, &params[i])
		if cpu.Uint64() != dev.Uint64() {
			t.Fatalf("image %d: Draw left its generator in another state than Pipeline.Run", i)
		}
	}
	x, y, err := a.Batch(idx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Shape(); !slices.Equal(got, []int64{batch, 3, testH, testW}) || !x.IsContiguous() || x.DType() != torch.Float32 {
		t.Fatalf("x is %v (contiguous %v), want float32 [%d 3 %d %d] contiguous", x, x.IsContiguous(), batch, testH, testW)
	}
	if x.Device() != images.Device() || y.Device() != images.Device() {
		t.Fatalf("x on %v, y on %v, want %v", x.Device(), y.Device(), images.Device())
	}
	got := torch.Must(torch.ToSlice[float32](x))
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad++; bad <= 5 {
				n, c, p := i/plane, i%plane/(testH*testW), i%(testH*testW)
				t.Errorf("image %d (set %d, %+v) channel %d pixel (%d,%d): device %v, CPU %v",
					n, idx[n], params[n], c, p%testW, p/testW, got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(got))
	}
	ys := torch.Must(torch.ToSlice[int64](y))
	for i, k := range idx {
		if ys[i] != int64(k%10) {
			t.Fatalf("label %d = %d, want %d", i, ys[i], k%10)
		}
	}
}

// TestChannelsLast checks that the channels-last option gives the same
// values with NHWC strides.
func TestChannelsLast(t *testing.T) {
	const m = 8
	images, labels := upload(t, testImages(m, 2), m)
	s := torch.NewScope()
	defer s.Close()
	run := func(o Options) *torch.Tensor {
		a := torch.Must(New(images, labels, transforms.SeedTrain(), o))
		defer a.Close()
		x, _, err := a.Next([]int{0, 1, 2, 3, 4, 5, 6, 7}, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x, xl := run(Options{}), run(Options{ChannelsLast: true})
	if xl.IsContiguous() || !slices.Equal(xl.Shape(), x.Shape()) {
		t.Fatalf("channels-last result %v contiguous %v", xl, xl.IsContiguous())
	}
	if c := torch.Must(xl.ChannelsLast()); c.IsContiguous() {
		t.Fatal("ChannelsLast of the result is contiguous")
	}
	a, b := torch.Must(torch.ToSlice[float32](x)), torch.Must(torch.ToSlice[float32](xl))
	if !slices.Equal(a, b) {
		t.Fatal("channels-last values differ")
	}
}

// TestDrawStatistics checks the parameters Draw gives SeedTrain over many
// draws against the distributions its documentation names: each transform
// with probability 0.5, angle uniform in ±15 degrees, independent x and y
// scales uniform in 1±0.15, shifts uniform in ±0.15, exactly two 8×8 holes
// placed uniformly, brightness/contrast or hue/saturation/value half of the
// time each when the OneOf runs, with their default limits. Means and
// variances are checked to 5 standard errors.
func TestDrawStatistics(t *testing.T) {
	const n = 40000
	images, labels := upload(t, make([]uint8, testH*testW*3), 1)
	a := torch.Must(New(images, labels, transforms.SeedTrain(), Options{}))
	defer a.Close()
	r := rand.New(rand.NewPCG(11, 12))
	type acc struct{ n, sum, sum2 float64 }
	stats := map[string]*acc{}
	add := func(k string, v float64) {
		s := stats[k]
		if s == nil {
			s = &acc{}
			stats[k] = s
		}
		s.n++
		s.sum += v
		s.sum2 += v * v
	}
	var sxsy, sxs, sys float64
	var warps float64
	var p Params
	for range n {
		a.Draw(r, &p)
		add("flip", b2f(p.Flip))
		add("warp", b2f(p.Warp))
		add("dropout", b2f(len(p.Holes) > 0))
		add("bc", b2f(p.BrightnessContrast))
		add("hsv", b2f(p.HSV))
		if p.BrightnessContrast && p.HSV {
			t.Fatal("both colour transforms drawn for one image")
		}
		if p.Warp {
			// Recover the draws from the matrix: the linear part is R·diag(sx, sy).
			m := p.Matrix
			sx, sy := math.Hypot(m[0], m[3]), math.Hypot(m[1], m[4])
			angle := math.Atan2(-m[3], m[0]) * 180 / math.Pi
			cx, cy := float64(testW)/2-0.5, float64(testH)/2-0.5
			dx := (m[2] - (cx - m[0]*cx - m[1]*cy)) / testW
			dy := (m[5] - (cy - m[3]*cx - m[4]*cy)) / testH
			add("angle", angle)
			add("sx", sx)
			add("sy", sy)
			add("dx", dx)
			add("dy", dy)
			sxsy += (sx - 1) * (sy - 1)
			sxs += (sx - 1) * (sx - 1)
			sys += (sy - 1) * (sy - 1)
			warps++
		}
		if len(p.Holes) > 0 {
			if len(p.Holes) != 2 {
				t.Fatalf("%d holes, want 2", len(p.Holes))
			}
			for _, h := range p.Holes {
				if h.X2-h.X1 != 8 || h.Y2-h.Y1 != 8 {
					t.Fatalf("hole %+v, want 8×8", h)
				}
				add("x1", float64(h.X1))
				add("y1", float64(h.Y1))
			}
		}
		if p.BrightnessContrast {
			add("alpha", p.Alpha)
			add("beta", p.Beta)
		}
		if p.HSV {
			add("hue", p.Hue)
			add("sat", p.Sat)
			add("val", p.Val)
		}
	}
	uni := func(lo, hi float64) (float64, float64) { return (lo + hi) / 2, (hi - lo) * (hi - lo) / 12 }
	disc := func(k int) (float64, float64) { return float64(k-1) / 2, float64(k*k-1) / 12 } // uniform on 0..k-1
	type want struct{ mean, vari float64 }
	wants := map[string]want{
		"flip": {0.5, 0.25}, "warp": {0.5, 0.25}, "dropout": {0.5, 0.25},
		"bc": {0.25, 0.1875}, "hsv": {0.25, 0.1875},
	}
	for k, lim := range map[string][2]float64{
		"angle": {-15, 15}, "sx": {0.85, 1.15}, "sy": {0.85, 1.15}, "dx": {-0.15, 0.15}, "dy": {-0.15, 0.15},
		"alpha": {0.8, 1.2}, "beta": {-0.2, 0.2}, "hue": {-20, 20}, "sat": {-30, 30}, "val": {-20, 20},
	} {
		m, v := uni(lim[0], lim[1])
		wants[k] = want{m, v}
	}
	for _, k := range []string{"x1", "y1"} {
		m, v := disc(testW - 8 + 1)
		wants[k] = want{m, v}
	}
	for k, w := range wants {
		s := stats[k]
		if s == nil || s.n < 1000 {
			t.Errorf("%s: %v samples", k, s)
			continue
		}
		mean := s.sum / s.n
		vari := s.sum2/s.n - mean*mean
		if se := math.Sqrt(w.vari / s.n); math.Abs(mean-w.mean) > 5*se {
			t.Errorf("%s: mean %.5g over %v samples, want %.5g ± %.2g", k, mean, s.n, w.mean, 5*se)
		}
		// The variance of a sample variance is below 2·var²/n for these
		// (light-tailed) distributions; 5 of its standard errors.
		if se := w.vari * math.Sqrt(2/s.n); math.Abs(vari-w.vari) > 5*se {
			t.Errorf("%s: variance %.5g, want %.5g ± %.2g", k, vari, w.vari, 5*se)
		}
	}
	// Independent scales: their correlation is 0 ± 5/sqrt(n).
	if corr := sxsy / math.Sqrt(sxs*sys); math.Abs(corr) > 5/math.Sqrt(warps) {
		t.Errorf("x and y scales correlate %.3f over %v warps", corr, warps)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestNoLeak checks that a batch leaves no tensor behind but x and y, which
// belong to the caller's scope.
func TestNoLeak(t *testing.T) {
	const m = 4
	images, labels := upload(t, testImages(m, 3), m)
	a := torch.Must(New(images, labels, forcedAll(), Options{}))
	defer a.Close()
	r := rand.New(rand.NewPCG(1, 1))
	before := torch.LiveTensors()
	for range 3 {
		s := torch.NewScope()
		if _, _, err := a.Next([]int{3, 1, 2}, r); err != nil {
			t.Fatal(err)
		}
		if n := s.Len(); n != 2 {
			t.Errorf("the caller's scope owns %d tensors after Batch, want 2 (x and y)", n)
		}
		s.Close()
	}
	if d := torch.LiveTensors() - before; d != 0 {
		t.Errorf("%d tensors left after the batches", d)
	}
}

// TestErrors checks that what the device path cannot run is refused with
// an error naming it.
func TestErrors(t *testing.T) {
	const m = 3
	images, labels := upload(t, testImages(m, 4), m)
	norm := transforms.NewNormalize(transforms.CIFAR10Mean, transforms.CIFAR10Std, 255)
	compose := func(ts ...transforms.Transform) *transforms.Pipeline {
		return &transforms.Pipeline{Augment: &transforms.Compose{P: 1, Transforms: ts}, Normalize: norm}
	}
	for name, c := range map[string]struct {
		pipe *transforms.Pipeline
		want string
	}{
		"out of order": {compose(&transforms.CoarseDropout{MaxHoles: 1, P: 1}, &transforms.HorizontalFlip{P: 1}), "out of order"},
		"repeated":     {compose(&transforms.HorizontalFlip{P: 1}, &transforms.HorizontalFlip{P: 1}), "repeated"},
		"crop and warp": {compose(&transforms.RandomCrop{Padding: 2}, &transforms.ShiftScaleRotate{ShiftLimit: 0.1, P: 1}),
			"one of RandomCrop and ShiftScaleRotate"},
		"not a compose": {&transforms.Pipeline{Augment: &transforms.HorizontalFlip{P: 1}, Normalize: norm},
			"want a *transforms.Compose"},
		"nested compose":  {compose(&transforms.Compose{P: 1}), "does not implement"},
		"no normalize":    {&transforms.Pipeline{}, "Normalize"},
		"hue limit":       {compose(&transforms.HueSaturationValue{HueShiftLimit: 180, P: 1}), "hue shift limit"},
		"oneof with flip": {compose(&transforms.OneOf{P: 1, Transforms: []transforms.Transform{&transforms.HorizontalFlip{P: 1}}}), "OneOf"},
	} {
		if _, err := New(images, labels, c.pipe, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
	s := torch.NewScope()
	defer s.Close()
	f32 := torch.Must(torch.Zeros([]int64{m, testH, testW, 3}, torch.Float32, torch.CPU))
	if _, err := New(f32, labels, transforms.SeedTrain(), Options{}); err == nil || !strings.Contains(err.Error(), "want uint8") {
		t.Errorf("float images: error %v", err)
	}
	if _, err := New(images, torch.Must(torch.Zeros([]int64{m + 1}, torch.Int64, torch.CPU)), transforms.SeedTrain(), Options{}); err == nil {
		t.Error("labels of another length accepted")
	}
	a := torch.Must(New(images, labels, transforms.SeedTrain(), Options{}))
	r := rand.New(rand.NewPCG(1, 1))
	if _, _, err := a.Next([]int{0, m}, r); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index out of range: error %v", err)
	}
	if _, _, err := a.Batch([]int{0, 1}, make([]Params, 1)); err == nil {
		t.Error("params of another length accepted")
	}
	if _, _, err := a.Batch([]int{0}, []Params{{Holes: make([]Hole, 3)}}); err == nil || !strings.Contains(err.Error(), "holes") {
		t.Errorf("too many holes: error %v", err)
	}
	a.Close()
	if _, _, err := a.Next([]int{0}, r); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("closed augmenter: error %v", err)
	}
}
