package trainer

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gotrain/torch/optim"
	"gotrain/transforms"
)

// Recipes: named sets of defaults for a run's settings.
const (
	// RecipeSeed is the seed project's recipe, DefaultConfig.
	RecipeSeed = "seed"
	// RecipeBest is the best combination of the training techniques found
	// so far by the 20-epoch ablation (docs/results/ablation-2026-12-01.md,
	// ablation-2026-12-02.md, ablation-2026-12-02b.md and
	// ablation-2026-12-02c.md). Nesterov momentum and no weight decay on
	// BatchNorm and biases were within noise alone; they stay because the
	// runs of the combination had them.
	RecipeBest = "best"
)

// Recipes returns the recipe names, RecipeSeed first.
func Recipes() []string { return []string{RecipeSeed, RecipeBest} }

// RecipeConfig returns the configuration of the named recipe: DefaultConfig
// with the recipe's settings. Settings given explicitly (flags) go on top.
//
// RecipeBest: flip and translate TTA (six views, as airbench's
// tta_level 2), no weight decay on BatchNorm parameters and biases,
// label smoothing 0.1, Nesterov momentum, alternating flips,
// batches of 64, a patch-whitening first layer, and light augmentation:
// whole-pixel crops of up to 2 pixels (RandomCrop padding 2) in place of
// ShiftScaleRotate, no CoarseDropout, no colour step
// (docs/results/ablation-2026-12-02b.md and -02c.md). No weight EMA: at
// 20 epochs EMA 0.999 was below the raw weights in all five runs that
// measured it (0.1-0.7 points, 0.5-1.1 with TTA).
func RecipeConfig(name string) (Config, error) {
	c := DefaultConfig()
	switch name {
	case RecipeSeed:
	case RecipeBest:
		c.Recipe = RecipeBest
		c.LabelSmoothing = 0.1
		c.TTA = true
		c.TTATranslate = true
		c.NoDecayBNBias = true
		c.Nesterov = true
		c.Flip = transforms.FlipAlternate
		c.BatchSize = 64
		c.Whiten = true
		c.ShiftScaleRotate = "off"
		c.RandomCrop = 2
		c.NoColor = true
		c.CoarseDropout = "off"
	default:
		return Config{}, fmt.Errorf("unknown recipe %q (known: %s)", name, strings.Join(Recipes(), ", "))
	}
	return c, nil
}

// Techniques are the training techniques a run may add to the seed's
// recipe, each with PyTorch's meaning. Their zero values (as in a
// checkpoint written before they existed) are the seed's settings.
type Techniques struct {
	// Recipe names the recipe the run's settings started from.
	Recipe string `json:"recipe,omitempty"`
	// EMA is the decay of an exponential moving average of the weights and
	// buffers, updated after every optimizer step, as
	// torch.optim.swa_utils.AveragedModel(net, avg_fn=ema, use_buffers=True)
	// with ema(avg, cur, n) = EMA*avg + (1-EMA)*cur. When set, the test
	// passes and the exported weights are the average's. 0 is off.
	EMA float64 `json:"ema,omitempty"`
	// TTA makes the run's test passes average the logits of each image
	// and its mirror image (flip test-time augmentation).
	TTA bool `json:"tta,omitempty"`
	// TTATranslate adds to the test passes' views the image moved one
	// pixel down-right and up-left (reflection padding), weighted 1/4
	// each against 1/2 for the image itself (infer.EvalOptions's
	// TranslateTTA); with TTA, each view with its mirror image.
	TTATranslate bool `json:"tta_translate,omitempty"`
	// NoDecayBNBias puts BatchNorm weights and every bias in a parameter
	// group without weight decay.
	NoDecayBNBias bool `json:"no_decay_bn_bias,omitempty"`
	// Nesterov is SGD's nesterov=True.
	Nesterov bool `json:"nesterov,omitempty"`
	// Anneal is OneCycleLR's anneal_strategy, "cos" or "linear".
	Anneal string `json:"anneal,omitempty"`
	// Flip is how training images are mirrored: transforms.FlipRandom
	// (the seed's), FlipAlternate or FlipNone.
	Flip string `json:"flip,omitempty"`
	// ShiftScaleRotate and CoarseDropout are the strengths of those
	// augmentations, as transforms.ParseShiftScaleRotate and
	// ParseCoarseDropout read them.
	ShiftScaleRotate string `json:"shift_scale_rotate,omitempty"`
	CoarseDropout    string `json:"coarse_dropout,omitempty"`
	// RandomCrop is the padding of torchvision's RandomCrop(32, padding,
	// padding_mode="reflect") on every training image (whole-pixel moves
	// of up to RandomCrop pixels); 0 is off, as in the seed.
	RandomCrop int `json:"random_crop,omitempty"`
	// NoColor leaves out the seed's colour step, OneOf(RandomBrightnessContrast,
	// HueSaturationValue).
	NoColor bool `json:"no_color,omitempty"`
	// Whiten sets the network's first convolution to patch-whitening
	// filters (model.Whiten) estimated from the first 5,000 training images
	// and keeps them fixed (requires_grad false), as airbench's first layer.
	Whiten bool `json:"whiten,omitempty"`
}

// maxRandomCrop bounds Techniques.RandomCrop: moves of up to half a
// 32-pixel image, where a reflection still folds once.
const maxRandomCrop = 16

// Seed's settings of the techniques, as DefaultConfig holds them.
const (
	seedAnneal           = "cos"
	seedShiftScaleRotate = "0.15,0.15,15"
	seedCoarseDropout    = "2:8"
)

func seedTechniques() Techniques {
	return Techniques{Recipe: RecipeSeed, Anneal: seedAnneal, Flip: transforms.FlipRandom,
		ShiftScaleRotate: seedShiftScaleRotate, CoarseDropout: seedCoarseDropout}
}

// orSeed returns the seed's settings in place of empty ones.
func (t Techniques) orSeed() Techniques {
	s := seedTechniques()
	if t.Recipe == "" {
		t.Recipe = s.Recipe
	}
	if t.Anneal == "" {
		t.Anneal = s.Anneal
	}
	if t.Flip == "" {
		t.Flip = s.Flip
	}
	if t.ShiftScaleRotate == "" {
		t.ShiftScaleRotate = s.ShiftScaleRotate
	}
	if t.CoarseDropout == "" {
		t.CoarseDropout = s.CoarseDropout
	}
	return t
}

func (t Techniques) validate(c Config) error {
	t = t.orSeed()
	switch {
	case !slices.Contains(Recipes(), t.Recipe):
		return fmt.Errorf("unknown recipe %q (known: %s)", t.Recipe, strings.Join(Recipes(), ", "))
	case !(t.EMA >= 0 && t.EMA < 1) || math.IsNaN(t.EMA):
		return fmt.Errorf("EMA decay must be in [0, 1) (0: off), got %v", t.EMA)
	case t.Anneal != "cos" && t.Anneal != "linear":
		return fmt.Errorf("anneal strategy must be cos or linear, got %q", t.Anneal)
	case t.Flip != transforms.FlipRandom && t.Flip != transforms.FlipAlternate && t.Flip != transforms.FlipNone:
		return fmt.Errorf("flip must be random, alternate or none, got %q", t.Flip)
	case t.Nesterov && c.Momentum <= 0 && !c.CycleMomentum:
		return fmt.Errorf("nesterov momentum needs a momentum")
	case t.RandomCrop < 0 || t.RandomCrop > maxRandomCrop:
		return fmt.Errorf("random crop padding must be in [0, %d] pixels (0: off), got %d", maxRandomCrop, t.RandomCrop)
	}
	if _, _, _, err := transforms.ParseShiftScaleRotate(t.ShiftScaleRotate); err != nil {
		return err
	}
	if _, _, err := transforms.ParseCoarseDropout(t.CoarseDropout); err != nil {
		return err
	}
	return nil
}

// Describe lists the techniques that differ from the seed's, for the
// run header; "" when none does.
func (t Techniques) Describe() string {
	t, s := t.orSeed(), seedTechniques()
	var parts []string
	if t.EMA != 0 {
		parts = append(parts, fmt.Sprintf("weight EMA %v", t.EMA))
	}
	if t.TTA {
		parts = append(parts, "flip TTA")
	}
	if t.TTATranslate {
		parts = append(parts, "translate TTA")
	}
	if t.NoDecayBNBias {
		parts = append(parts, "no weight decay on BatchNorm and biases")
	}
	if t.Nesterov {
		parts = append(parts, "Nesterov momentum")
	}
	if t.Anneal != s.Anneal {
		parts = append(parts, t.Anneal+" annealing")
	}
	if t.Flip != s.Flip {
		parts = append(parts, t.Flip+" flips")
	}
	if t.ShiftScaleRotate != s.ShiftScaleRotate {
		parts = append(parts, "ShiftScaleRotate "+t.ShiftScaleRotate)
	}
	if t.CoarseDropout != s.CoarseDropout {
		parts = append(parts, "CoarseDropout "+t.CoarseDropout)
	}
	if t.RandomCrop != 0 {
		parts = append(parts, fmt.Sprintf("RandomCrop padding %d", t.RandomCrop))
	}
	if t.NoColor {
		parts = append(parts, "no colour augmentation")
	}
	if t.Whiten {
		parts = append(parts, "patch-whitening first layer")
	}
	return strings.Join(parts, ", ")
}

// trainOptions returns the augmentation strengths of cfg.
func trainOptions(cfg Config) transforms.TrainOptions {
	t := cfg.Techniques.orSeed()
	o := transforms.SeedTrainOptions()
	o.Flip, o.FlipSeed = t.Flip, cfg.Seed
	// Validate has checked both.
	o.Shift, o.Scale, o.Rotate, _ = transforms.ParseShiftScaleRotate(t.ShiftScaleRotate)
	o.Holes, o.HoleSize, _ = transforms.ParseCoarseDropout(t.CoarseDropout)
	o.Crop, o.Color = t.RandomCrop, !t.NoColor
	return o
}

// RecipeText names cfg's recipe and, in parentheses, the settings in
// which cfg differs from the seed's: "best (flip TTA, ...)".
func (cfg Config) RecipeText() string {
	t := cfg.Techniques.orSeed()
	var parts []string
	if d := t.Describe(); d != "" {
		parts = append(parts, d)
	}
	def := DefaultConfig()
	if cfg.BatchSize != def.BatchSize && cfg.BatchSize != 0 {
		parts = append(parts, fmt.Sprintf("batch size %d", cfg.BatchSize))
	}
	if cfg.PctStart != def.PctStart && cfg.PctStart != 0 {
		parts = append(parts, fmt.Sprintf("pct_start %v", cfg.PctStart))
	}
	if cfg.LabelSmoothing != 0 {
		parts = append(parts, fmt.Sprintf("label smoothing %v", cfg.LabelSmoothing))
	}
	if len(parts) > 0 {
		return fmt.Sprintf("%s (%s)", t.Recipe, strings.Join(parts, ", "))
	}
	return t.Recipe
}

// recipeLine is the run header's line of cfg's recipe.
func recipeLine(cfg Config) string { return "Recipe: " + cfg.RecipeText() + "\n" }

// schedulerConfig returns the run's OneCycleLR arguments for steps
// batches per epoch: PyTorch's defaults but for max_lr, pct_start,
// anneal_strategy and cycle_momentum, which cfg sets.
func schedulerConfig(cfg Config, steps int) optim.OneCycleLRConfig {
	c := optim.DefaultOneCycleLRConfig(cfg.LR, cfg.Epochs, steps)
	c.PctStart = cfg.PctStart
	c.AnnealStrategy = cfg.Techniques.orSeed().Anneal
	c.CycleMomentum = cfg.CycleMomentum
	return c
}
