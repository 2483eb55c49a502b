package transforms

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// counter is a transform that counts how often it runs.
type counter struct {
	p float64
	n int
}

func (c *counter) Prob() float64                      { return c.p }
func (c *counter) ApplyAlways(_ *Image, _ *rand.Rand) { c.n++ }

// within checks that count successes of n trials with probability p lie
// within 3 standard deviations of n*p.
func within(t *testing.T, name string, count, n int, p float64) {
	t.Helper()
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(count)-mean) > 3*sd {
		t.Errorf("%s: %d of %d, want %.0f ± %.0f (3 sigma)", name, count, n, mean, 3*sd)
	}
}

func TestApplyProbability(t *testing.T) {
	r := newRand(11)
	img := NewImage(1, 1)
	for _, p := range []float64{0.5, 0.1, 0.9} {
		c := &counter{p: p}
		for range 10000 {
			Apply(c, img, r)
		}
		within(t, "Apply", c.n, 10000, p)
	}
	for _, p := range []float64{0, 1} {
		c := &counter{p: p}
		for range 1000 {
			Apply(c, img, r)
		}
		if c.n != int(p)*1000 {
			t.Errorf("p=%v ran %d of 1000 times", p, c.n)
		}
	}
}

func TestOneOf(t *testing.T) {
	r := newRand(12)
	img := NewImage(1, 1)
	// Equal weights, OneOf p = 0.5: the OneOf runs half the time and then
	// forces one child (whatever the child's own p).
	a, b := &counter{p: 0.5}, &counter{p: 0.5}
	o := &OneOf{Transforms: []Transform{a, b}, P: 0.5}
	for range 10000 {
		Apply(o, img, r)
	}
	within(t, "OneOf ran", a.n+b.n, 10000, 0.5)
	within(t, "first child", a.n, 10000, 0.25)
	within(t, "second child", b.n, 10000, 0.25)

	// Weights 0.1 : 0 : 0.3 -> chances 1/4, 0, 3/4, each child forced.
	a, b, c := &counter{p: 0.1}, &counter{p: 0}, &counter{p: 0.3}
	o = &OneOf{Transforms: []Transform{a, b, c}, P: 1}
	for range 10000 {
		Apply(o, img, r)
	}
	if a.n+b.n+c.n != 10000 || b.n != 0 {
		t.Errorf("OneOf p=1 ran children %d, %d, %d times of 10000", a.n, b.n, c.n)
	}
	within(t, "weight 0.1 of 0.4", a.n, 10000, 0.25)
}

// recorder appends its name to a log when it runs.
type recorder struct {
	name string
	log  *[]string
}

func (t recorder) Prob() float64                      { return 1 }
func (t recorder) ApplyAlways(_ *Image, _ *rand.Rand) { *t.log = append(*t.log, t.name) }

func TestComposeOrder(t *testing.T) {
	var log []string
	c := &Compose{P: 1, Transforms: []Transform{
		recorder{"a", &log}, &Compose{P: 1, Transforms: []Transform{recorder{"b", &log}, recorder{"c", &log}}}, recorder{"d", &log},
	}}
	Apply(c, NewImage(1, 1), newRand(13))
	if got := len(log); got != 4 || log[0] != "a" || log[1] != "b" || log[2] != "c" || log[3] != "d" {
		t.Errorf("ran %v, want [a b c d]", log)
	}
}

func TestTransformProbabilities(t *testing.T) {
	// Each real transform with p = 0.5 changes a noise image about half
	// the time.
	fill := MeanFill(CIFAR10Mean)
	for _, tr := range []Transform{
		&HorizontalFlip{P: 0.5},
		&ShiftScaleRotate{ShiftLimit: 0.15, ScaleLimit: 0.15, RotateLimit: 15, P: 0.5},
		&CoarseDropout{MinHoles: 2, MaxHoles: 2, MinHeight: 8, MaxHeight: 8, MinWidth: 8, MaxWidth: 8, Fill: fill, P: 0.5},
		&RandomBrightnessContrast{BrightnessLimit: 0.2, ContrastLimit: 0.2, BrightnessByMax: true, P: 0.5},
		&HueSaturationValue{HueShiftLimit: 20, SatShiftLimit: 30, ValShiftLimit: 20, P: 0.5},
	} {
		r := newRand(14)
		src := randomImage(r, 32, 32)
		img := NewImage(32, 32)
		changed := 0
		for range 4000 {
			img.Load(src.Pix)
			Apply(tr, img, r)
			if !bytes.Equal(img.Pix, src.Pix) {
				changed++
			}
		}
		within(t, "changed by "+typeName(tr), changed, 4000, 0.5)
	}
}

func typeName(t Transform) string {
	switch t.(type) {
	case *HorizontalFlip:
		return "HorizontalFlip"
	case *ShiftScaleRotate:
		return "ShiftScaleRotate"
	case *CoarseDropout:
		return "CoarseDropout"
	case *RandomBrightnessContrast:
		return "RandomBrightnessContrast"
	case *HueSaturationValue:
		return "HueSaturationValue"
	}
	return "?"
}

// cloneRand returns a generator over a copy of src's state, and the
// generator over src itself.
func cloneRand(seed uint64) (*rand.Rand, *rand.Rand) {
	src := rand.NewPCG(seed, 7)
	cp := *src
	return rand.New(src), rand.New(&cp)
}

func TestParameterDraws(t *testing.T) {
	// Each transform draws its parameters in the documented order and
	// ranges and applies exactly the functional form with them.
	for i := range 200 {
		img := smoothImage(newRand(uint64(i)), 32, 32)
		want := NewImage(32, 32)
		want.Load(img.Pix)

		r, twin := cloneRand(uint64(i))
		(&ShiftScaleRotate{ShiftLimit: 0.15, ScaleLimit: 0.15, RotateLimit: 15}).ApplyAlways(img, r)
		angle, sx, sy := uniform(twin, -15, 15), uniform(twin, 0.85, 1.15), uniform(twin, 0.85, 1.15)
		dx, dy := uniform(twin, -0.15, 0.15), uniform(twin, -0.15, 0.15)
		WarpAffine(want, ShiftScaleRotateMatrix(32, 32, angle, sx, sy, dx, dy))
		if !bytes.Equal(img.Pix, want.Pix) {
			t.Fatalf("draw %d: ShiftScaleRotate differs from WarpAffine with angle %v scales %v,%v shift %v,%v", i, angle, sx, sy, dx, dy)
		}

		r, twin = cloneRand(uint64(i))
		(&RandomBrightnessContrast{BrightnessLimit: 0.2, ContrastLimit: 0.2, BrightnessByMax: true}).ApplyAlways(img, r)
		alpha, beta := 1+uniform(twin, -0.2, 0.2), uniform(twin, -0.2, 0.2)
		BrightnessContrast(want, alpha, beta, true)
		if !bytes.Equal(img.Pix, want.Pix) {
			t.Fatalf("draw %d: RandomBrightnessContrast differs from alpha %v beta %v", i, alpha, beta)
		}

		r, twin = cloneRand(uint64(i))
		(&HueSaturationValue{HueShiftLimit: 20, SatShiftLimit: 30, ValShiftLimit: 20}).ApplyAlways(img, r)
		hue, sat, val := uniform(twin, -20, 20), uniform(twin, -30, 30), uniform(twin, -20, 20)
		ShiftHSV(want, hue, sat, val)
		if !bytes.Equal(img.Pix, want.Pix) {
			t.Fatalf("draw %d: HueSaturationValue differs from shifts %v %v %v", i, hue, sat, val)
		}
	}
}

func TestSeedPipelineDeterministic(t *testing.T) {
	train, test := SeedTrain(), SeedTest()
	src := smoothImage(newRand(15), 32, 32)
	run := func(p *Pipeline, seed uint64) []float32 {
		img := NewImage(32, 32)
		img.Load(src.Pix)
		dst := make([]float32, 3*32*32)
		p.Run(img, newRand(seed), dst)
		return dst
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	distinct := 0
	for seed := range uint64(20) {
		a, b := run(train, seed), run(train, seed)
		if !same(a, b) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		if !same(a, run(train, seed+100)) {
			distinct++
		}
	}
	// Only when no transform fires (probability 0.5^4 = 1/16) do two seeds
	// agree; 20 seeds all agreeing would mean the randomness is ignored.
	if distinct < 10 {
		t.Errorf("only %d of 20 seed pairs gave different outputs", distinct)
	}
	// The test pipeline is Normalize only.
	want := make([]float32, 3*32*32)
	img := NewImage(32, 32)
	img.Load(src.Pix)
	NewNormalize(CIFAR10Mean, CIFAR10Std, 255).ToCHW(img, want)
	if !same(run(test, 1), want) {
		t.Error("SeedTest is not plain normalization")
	}
}
