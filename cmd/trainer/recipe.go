package main

import (
	"github.com/urfave/cli/v2"

	"gotrain/trainer"
)

// techniqueFlags are the training techniques' flags (trainer.Techniques);
// their defaults are the seed recipe's.
func techniqueFlags(d trainer.Config) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "recipe", Value: trainer.RecipeSeed, Usage: "named defaults for the training settings: " +
			"seed (the seed project's) or " + bestRecipeText() + "; flags given explicitly override the recipe's values"},
		&cli.Float64Flag{Name: "ema", Value: d.EMA, Usage: "decay of an exponential moving average of the weights and buffers, updated after every step " +
			"(torch.optim.swa_utils.AveragedModel with use_buffers=True); the test passes and the exported weights use it; 0 is off"},
		&cli.BoolFlag{Name: "tta", Value: d.TTA, Usage: flipUsage + " in the run's test passes"},
		&cli.BoolFlag{Name: "tta-translate", Value: d.TTATranslate, Usage: translateUsage + " in the run's test passes"},
		&cli.BoolFlag{Name: "no-decay-bn-bias", Value: d.NoDecayBNBias, Usage: "no weight decay on BatchNorm weights and on biases (a second SGD parameter group)"},
		&cli.BoolFlag{Name: "nesterov", Value: d.Nesterov, Usage: "Nesterov momentum (SGD nesterov=True)"},
		&cli.Float64Flag{Name: "pct-start", Value: d.PctStart, Usage: "OneCycleLR's pct_start: the fraction of the steps spent raising the learning rate"},
		&cli.StringFlag{Name: "anneal", Value: d.Anneal, Usage: "OneCycleLR's anneal_strategy: cos or linear"},
		&cli.StringFlag{Name: "flip", Value: d.Flip, Usage: "horizontal flips of training images: random (p=0.5, the seed's), alternate " +
			"(a seeded random half in epoch 0, then each image flipped on every other epoch, as airbench) or none"},
		&cli.StringFlag{Name: "shift-scale-rotate", Value: d.ShiftScaleRotate, Usage: "ShiftScaleRotate limits SHIFT,SCALE,ROTATE " +
			"(fractions of the size, scale fraction, degrees; p=0.5), or off"},
		&cli.StringFlag{Name: "coarse-dropout", Value: d.CoarseDropout, Usage: "CoarseDropout HOLES:SIZE, HOLES holes of SIZE x SIZE pixels " +
			"filled with the mean (p=0.5), or off"},
		&cli.IntFlag{Name: "random-crop", Value: d.RandomCrop, Usage: "torchvision's RandomCrop(32, padding=N, padding_mode=\"reflect\") " +
			"on every training image, after the flip: whole-pixel moves of up to N pixels; 0 is off"},
		&cli.BoolFlag{Name: "color", Value: !d.NoColor, Usage: "the seed's colour augmentation, OneOf(RandomBrightnessContrast, " +
			"HueSaturationValue) (p=0.5); -color=false leaves it out"},
		&cli.BoolFlag{Name: "whiten", Value: d.Whiten, Usage: "patch whitening: the first convolution's filters are the principal directions " +
			"of the first 5,000 training images' patches, each scaled to unit variance and paired with its negation, and stay fixed " +
			"(requires_grad false), as airbench's first layer"},
	}
}

// flipUsage and translateUsage say what -tta and -tta-translate do.
const (
	flipUsage      = "flip test-time augmentation: average the logits of each image and its mirror image"
	translateUsage = "translate test-time augmentation: also average the logits of each image moved one pixel " +
		"down-right and up-left (reflection padding; weights 1/4 each, 1/2 the image itself; with -tta, each view and its mirror image)"
)

// recipeField is a setting that a recipe gives a default: the flag that
// overrides it and how to copy it from one configuration to another.
type recipeField struct {
	flag string
	copy func(dst *trainer.Config, src trainer.Config)
}

var recipeFields = []recipeField{
	{"model", func(d *trainer.Config, s trainer.Config) { d.Model = s.Model }},
	{"epochs", func(d *trainer.Config, s trainer.Config) { d.Epochs = s.Epochs }},
	{"batch-size", func(d *trainer.Config, s trainer.Config) { d.BatchSize = s.BatchSize }},
	{"lr", func(d *trainer.Config, s trainer.Config) { d.LR = s.LR }},
	{"momentum", func(d *trainer.Config, s trainer.Config) { d.Momentum = s.Momentum }},
	{"cycle-momentum", func(d *trainer.Config, s trainer.Config) { d.CycleMomentum = s.CycleMomentum }},
	{"weight-decay", func(d *trainer.Config, s trainer.Config) { d.WeightDecay = s.WeightDecay }},
	{"dropout", func(d *trainer.Config, s trainer.Config) { d.Dropout = s.Dropout }},
	{"label-smoothing", func(d *trainer.Config, s trainer.Config) { d.LabelSmoothing = s.LabelSmoothing }},
	{"augment", func(d *trainer.Config, s trainer.Config) { d.Augment = s.Augment }},
	{"ema", func(d *trainer.Config, s trainer.Config) { d.EMA = s.EMA }},
	{"tta", func(d *trainer.Config, s trainer.Config) { d.TTA = s.TTA }},
	{"tta-translate", func(d *trainer.Config, s trainer.Config) { d.TTATranslate = s.TTATranslate }},
	{"no-decay-bn-bias", func(d *trainer.Config, s trainer.Config) { d.NoDecayBNBias = s.NoDecayBNBias }},
	{"nesterov", func(d *trainer.Config, s trainer.Config) { d.Nesterov = s.Nesterov }},
	{"pct-start", func(d *trainer.Config, s trainer.Config) { d.PctStart = s.PctStart }},
	{"anneal", func(d *trainer.Config, s trainer.Config) { d.Anneal = s.Anneal }},
	{"flip", func(d *trainer.Config, s trainer.Config) { d.Flip = s.Flip }},
	{"shift-scale-rotate", func(d *trainer.Config, s trainer.Config) { d.ShiftScaleRotate = s.ShiftScaleRotate }},
	{"coarse-dropout", func(d *trainer.Config, s trainer.Config) { d.CoarseDropout = s.CoarseDropout }},
	{"random-crop", func(d *trainer.Config, s trainer.Config) { d.RandomCrop = s.RandomCrop }},
	{"color", func(d *trainer.Config, s trainer.Config) { d.NoColor = s.NoColor }},
	{"whiten", func(d *trainer.Config, s trainer.Config) { d.Whiten = s.Whiten }},
}

// applyRecipe reads the technique flags into cfg (which configFrom filled
// from the other flags) and then gives every setting that no flag set
// explicitly the value of the -recipe.
func applyRecipe(c *cli.Context, cfg *trainer.Config) error {
	r, err := trainer.RecipeConfig(c.String("recipe"))
	if err != nil {
		return usageError{err}
	}
	cfg.Recipe = r.Recipe
	cfg.EMA, cfg.TTA, cfg.NoDecayBNBias, cfg.Nesterov = c.Float64("ema"), c.Bool("tta"), c.Bool("no-decay-bn-bias"), c.Bool("nesterov")
	cfg.TTATranslate = c.Bool("tta-translate")
	cfg.PctStart, cfg.Anneal, cfg.Flip = c.Float64("pct-start"), c.String("anneal"), c.String("flip")
	cfg.ShiftScaleRotate, cfg.CoarseDropout = c.String("shift-scale-rotate"), c.String("coarse-dropout")
	cfg.RandomCrop, cfg.NoColor, cfg.Whiten = c.Int("random-crop"), !c.Bool("color"), c.Bool("whiten")
	for _, f := range recipeFields {
		if !c.IsSet(f.flag) {
			f.copy(cfg, r)
		}
	}
	return nil
}

// bestRecipeText says what the best recipe changes, for -recipe's help.
func bestRecipeText() string {
	best, err := trainer.RecipeConfig(trainer.RecipeBest)
	if err != nil {
		panic(err) // a recipe of Recipes() that RecipeConfig does not know
	}
	return best.RecipeText()
}
