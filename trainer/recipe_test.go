package trainer

import (
	"reflect"
	"strings"
	"testing"

	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/transforms"
)

func TestRecipes(t *testing.T) {
	seed, err := RecipeConfig(RecipeSeed)
	if err != nil || !reflect.DeepEqual(seed, DefaultConfig()) {
		t.Errorf("seed recipe %+v (%v), want DefaultConfig", seed, err)
	}
	best, err := RecipeConfig(RecipeBest)
	if err != nil {
		t.Fatal(err)
	}
	if best.Recipe != RecipeBest || best.EMA != 0 || !best.TTA || !best.TTATranslate || !best.Whiten || best.RandomCrop != 2 || !best.NoColor ||
		best.BatchSize != 64 || best.Validate() != nil {
		t.Errorf("best recipe %+v: %v", best.Techniques, best.Validate())
	}
	if _, err := RecipeConfig("fast"); err == nil || !strings.Contains(err.Error(), `unknown recipe "fast"`) {
		t.Errorf("unknown recipe: %v", err)
	}
	if l := recipeLine(seed); l != "Recipe: seed\n" {
		t.Errorf("seed header line %q", l)
	}
	if l := recipeLine(best); !strings.HasPrefix(l, "Recipe: best (flip TTA, translate TTA") || !strings.Contains(l, "label smoothing 0.1") || !strings.Contains(l, "batch size 64") {
		t.Errorf("best header line %q", l)
	}
}

// A configuration from before the techniques existed (empty fields) is
// the seed's.
func TestTechniquesZeroIsSeed(t *testing.T) {
	c := DefaultConfig()
	c.Techniques = Techniques{}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Techniques.orSeed(); got != seedTechniques() {
		t.Errorf("empty techniques read as %+v", got)
	}
	if got, want := trainOptions(c), transforms.SeedTrainOptions(); got != (transforms.TrainOptions{FlipSeed: c.Seed, Flip: want.Flip,
		Shift: want.Shift, Scale: want.Scale, Rotate: want.Rotate, Holes: want.Holes, HoleSize: want.HoleSize, Color: want.Color}) {
		t.Errorf("augmentation %+v, want the seed's %+v", got, want)
	}
	if got, want := schedulerConfig(c, 7), optim.DefaultOneCycleLRConfig(c.LR, c.Epochs, 7); got != want {
		t.Errorf("scheduler %+v, want PyTorch's defaults %+v", got, want)
	}
}

func TestTechniquesValidate(t *testing.T) {
	cases := []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.EMA = 1 }, "EMA decay must be in [0, 1)"},
		{func(c *Config) { c.EMA = -0.1 }, "EMA decay must be in [0, 1)"},
		{func(c *Config) { c.Anneal = "exp" }, "anneal strategy must be cos or linear"},
		{func(c *Config) { c.Flip = "vertical" }, "flip must be random, alternate or none"},
		{func(c *Config) { c.ShiftScaleRotate = "0.1,0.1" }, "want SHIFT,SCALE,ROTATE"},
		{func(c *Config) { c.ShiftScaleRotate = "0.1,2,0" }, "not a number in [0, 1]"},
		{func(c *Config) { c.CoarseDropout = "2x8" }, "want HOLES:SIZE"},
		{func(c *Config) { c.Recipe = "fast" }, `unknown recipe "fast"`},
		{func(c *Config) { c.RandomCrop = -1 }, "random crop padding must be in [0, 16]"},
		{func(c *Config) { c.RandomCrop = 17 }, "random crop padding must be in [0, 16]"},
		{func(c *Config) { c.Nesterov, c.Momentum, c.CycleMomentum = true, 0, false }, "nesterov momentum needs a momentum"},
	}
	for _, k := range cases {
		c := DefaultConfig()
		k.set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%+v: %v, want %q", c.Techniques, err, k.want)
		}
	}
	c := DefaultConfig()
	c.Anneal, c.PctStart, c.Flip, c.ShiftScaleRotate, c.CoarseDropout = "linear", 0.23, transforms.FlipAlternate, "off", "off"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := schedulerConfig(c, 5)
	if s.AnnealStrategy != "linear" || s.PctStart != 0.23 {
		t.Errorf("scheduler %+v", s)
	}
	o := trainOptions(c)
	if p := transforms.Train(o); p.AlternateFlip == nil || len(p.Augment.(*transforms.Compose).Transforms) != 1 {
		t.Errorf("alternate flips and no ShiftScaleRotate or CoarseDropout: %+v", p)
	}
}

// -random-crop puts RandomCrop after the flip, -color=false drops the
// colour step, and the run header names both.
func TestCropAndColorOptions(t *testing.T) {
	c := DefaultConfig()
	c.RandomCrop, c.NoColor, c.ShiftScaleRotate, c.CoarseDropout = 3, true, "off", "off"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := transforms.Train(trainOptions(c))
	ts := p.Augment.(*transforms.Compose).Transforms
	if len(ts) != 2 {
		t.Fatalf("transforms %#v, want the flip and the crop", ts)
	}
	if _, ok := ts[0].(*transforms.HorizontalFlip); !ok {
		t.Errorf("first transform %T, want the flip", ts[0])
	}
	if crop, ok := ts[1].(*transforms.RandomCrop); !ok || crop.Padding != 3 {
		t.Errorf("second transform %#v, want RandomCrop padding 3", ts[1])
	}
	c.PctStart = 0.25
	if l := recipeLine(c); !strings.Contains(l, "pct_start 0.25") {
		t.Errorf("header line %q lacks pct_start", l)
	}
	if d := c.Describe(); !strings.Contains(d, "RandomCrop padding 3") || !strings.Contains(d, "no colour augmentation") {
		t.Errorf("Describe() = %q", d)
	}
	seed := transforms.Train(trainOptions(DefaultConfig())).Augment.(*transforms.Compose).Transforms
	if _, ok := seed[len(seed)-1].(*transforms.OneOf); !ok {
		t.Errorf("seed pipeline ends with %T, want the colour OneOf", seed[len(seed)-1])
	}
}

// The groups of -no-decay-bn-bias leave out of weight decay exactly what
// PyTorch's usual rule (p.ndim <= 1) does for these networks: BatchNorm
// weights and biases.
func TestNoDecayGroups(t *testing.T) {
	for _, name := range model.Names() {
		net := torch.Must(model.New(name, model.Options{}))
		cfg := DefaultConfig()
		cfg.NoDecayBNBias = true
		opt, err := newOptimizer(net, cfg)
		if err != nil {
			t.Fatal(err)
		}
		groups := opt.ParamGroups()
		if len(groups) != 2 || groups[0].WeightDecay != cfg.WeightDecay || groups[1].WeightDecay != 0 {
			t.Fatalf("%s: %d groups %+v", name, len(groups), groups)
		}
		decay, noDecay := groups[0].Params, groups[1].Params
		if len(decay)+len(noDecay) != len(nn.NamedParameters(net)) || len(noDecay) == 0 {
			t.Errorf("%s: %d + %d parameters", name, len(decay), len(noDecay))
		}
		for _, p := range decay {
			if p.Tensor.Dim() <= 1 {
				t.Errorf("%s: %s (%v) has weight decay", name, p.Name, p.Tensor.Shape())
			}
		}
		for _, p := range noDecay {
			if p.Tensor.Dim() > 1 {
				t.Errorf("%s: %s (%v) has no weight decay", name, p.Name, p.Tensor.Shape())
			}
		}
		nn.Free(net)
	}
}
