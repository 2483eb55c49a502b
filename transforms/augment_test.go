package transforms

import (
	"strings"
	"testing"
)

// Every image alternates from one epoch to the next, and epoch 0 mirrors
// about half of them.
func TestAlternatingFlip(t *testing.T) {
	f := &AlternatingFlip{Seed: 7}
	flipped := 0
	for idx := range 1000 {
		if f.Flipped(0, idx) {
			flipped++
		}
		for e := range 4 {
			if f.Flipped(e, idx) == f.Flipped(e+1, idx) {
				t.Fatalf("image %d: same flip in epochs %d and %d", idx, e, e+1)
			}
		}
	}
	if flipped < 450 || flipped > 550 {
		t.Errorf("%d of 1000 images flipped in epoch 0, want about half", flipped)
	}
	if other := (&AlternatingFlip{Seed: 8}); func() bool {
		for idx := range 64 {
			if other.Flipped(0, idx) != f.Flipped(0, idx) {
				return false
			}
		}
		return true
	}() {
		t.Error("the seed does not change which images are flipped")
	}
}

// With FlipAlternate and nothing else, RunAt is normalization of the image,
// mirrored exactly when AlternatingFlip says so.
func TestRunAtAlternateFlip(t *testing.T) {
	p := Train(TrainOptions{Flip: FlipAlternate, FlipSeed: 3})
	if p.Augment != nil || p.AlternateFlip == nil {
		t.Fatalf("pipeline %+v", p)
	}
	src := smoothImage(newRand(2), 32, 32)
	norm := NewNormalize(CIFAR10Mean, CIFAR10Std, 255)
	for idx := range 4 {
		for epoch := range 2 {
			img := NewImage(32, 32)
			img.Load(src.Pix)
			got := make([]float32, 3*32*32)
			p.RunAt(img, newRand(1), got, epoch, idx)
			ref := NewImage(32, 32)
			ref.Load(src.Pix)
			if p.AlternateFlip.Flipped(epoch, idx) {
				HFlip(ref)
			}
			want := make([]float32, 3*32*32)
			norm.ToCHW(ref, want)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("image %d, epoch %d: element %d is %v, want %v", idx, epoch, i, got[i], want[i])
				}
			}
		}
	}
}

func TestTrainOptions(t *testing.T) {
	seed := Train(SeedTrainOptions()).Augment.(*Compose).Transforms
	if len(seed) != 4 {
		t.Fatalf("seed pipeline has %d transforms", len(seed))
	}
	if h, ok := seed[0].(*HorizontalFlip); !ok || h.P != 0.5 {
		t.Errorf("first transform %+v", seed[0])
	}
	if s := seed[1].(*ShiftScaleRotate); *s != (ShiftScaleRotate{ShiftLimit: 0.15, ScaleLimit: 0.15, RotateLimit: 15, P: 0.5}) {
		t.Errorf("ShiftScaleRotate %+v", s)
	}
	if d := seed[2].(*CoarseDropout); d.MinHoles != 2 || d.MaxHoles != 2 || d.MinHeight != 8 || d.MaxWidth != 8 || d.P != 0.5 {
		t.Errorf("CoarseDropout %+v", d)
	}
	light := Train(TrainOptions{Flip: FlipRandom, Shift: 0.1, Holes: 1, HoleSize: 4})
	ts := light.Augment.(*Compose).Transforms
	if len(ts) != 3 || *ts[1].(*ShiftScaleRotate) != (ShiftScaleRotate{ShiftLimit: 0.1, P: 0.5}) ||
		ts[2].(*CoarseDropout).MaxHoles != 1 || ts[2].(*CoarseDropout).MaxHeight != 4 {
		t.Errorf("light pipeline %+v", ts)
	}
	if p := Train(TrainOptions{Flip: FlipNone}); p.Augment != nil || p.AlternateFlip != nil {
		t.Errorf("no augmentation: %+v", p)
	}
}

func TestParseStrengths(t *testing.T) {
	if a, b, c, err := ParseShiftScaleRotate("0.15,0.15,15"); err != nil || a != 0.15 || b != 0.15 || c != 15 {
		t.Errorf("seed limits: %v %v %v %v", a, b, c, err)
	}
	if a, b, c, err := ParseShiftScaleRotate("off"); err != nil || a != 0 || b != 0 || c != 0 {
		t.Errorf("off: %v %v %v %v", a, b, c, err)
	}
	for _, bad := range []string{"", "0.1", "0.1,0.1,x", "-0.1,0,0", "0,0,181", "NaN,0,0"} {
		if _, _, _, err := ParseShiftScaleRotate(bad); err == nil || !strings.Contains(err.Error(), "shift-scale-rotate") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if h, s, err := ParseCoarseDropout("2:8"); err != nil || h != 2 || s != 8 {
		t.Errorf("seed holes: %v %v %v", h, s, err)
	}
	if h, s, err := ParseCoarseDropout("off"); err != nil || h != 0 || s != 0 {
		t.Errorf("off: %v %v %v", h, s, err)
	}
	for _, bad := range []string{"", "2", "2:", "0:8", "2:0", "2:33", "a:b"} {
		if _, _, err := ParseCoarseDropout(bad); err == nil || !strings.Contains(err.Error(), "coarse-dropout") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
