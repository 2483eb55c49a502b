package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"gotrain/torch"
	"gotrain/trainer"
)

// The training flags are one table (trainOptions, techniqueOptions,
// logOptions): each flag is bound once to the field of trainer.Config it
// sets, through the part of Config the field is in. That part decides
// what a resumed run does with the flag: a flag of trainer.Machine may be
// given with -resume and replaces the checkpoint's value, a flag of
// trainer.Training is refused. Recipes, configFrom, checkResumeFlags,
// resumeOverride and the help of -resume all read this one table.

// option is one flag of the table.
type option struct {
	flag cli.Flag
	// Exactly one of these, or neither for a flag of the command rather
	// than of trainer.Config (trainer.Options, logging): it reads the
	// flag's value into its field.
	training func(c *cli.Context, t *trainer.Training)
	machine  func(c *cli.Context, m *trainer.Machine)
	// byDevice, if set, gives the field its value where the flag is not
	// given: the device's default (torch.DeviceDefaultsFor).
	byDevice func(d torch.DeviceDefaults, m *trainer.Machine)
	// resumable says that a flag of the command is taken with -resume.
	resumable bool
	// notOnResume says why a resumed run refuses a flag of the machine
	// (%s: what is resumed).
	notOnResume string
}

func (o option) name() string { return o.flag.Names()[0] }

// takenOnResume reports whether a resumed run takes the flag.
func (o option) takenOnResume() bool {
	return o.resumable || o.machine != nil && o.notOnResume == ""
}

// set reads the flag's value into its field of cfg.
func (o option) set(c *cli.Context, cfg *trainer.Config) {
	switch {
	case o.training != nil:
		o.training(c, &cfg.Training)
	case o.machine != nil:
		o.machine(c, &cfg.Machine)
	}
}

// flagValue are the types of the fields that flags set.
type flagValue interface {
	int | uint64 | float64 | bool | string
}

// newFlag returns the cli flag of a field of type T, with default def.
func newFlag[T flagValue](name, usage string, def T) cli.Flag {
	switch v := any(def).(type) {
	case int:
		return &cli.IntFlag{Name: name, Value: v, Usage: usage}
	case uint64:
		return &cli.Uint64Flag{Name: name, Value: v, Usage: usage}
	case float64:
		return &cli.Float64Flag{Name: name, Value: v, Usage: usage}
	case bool:
		return &cli.BoolFlag{Name: name, Value: v, Usage: usage}
	default:
		return &cli.StringFlag{Name: name, Value: any(def).(string), Usage: usage}
	}
}

// trainingFlag binds a flag to a field of the training part; its default
// is the field's in d.
func trainingFlag[T flagValue](d *trainer.Config, name, usage string, field func(*trainer.Training) *T) option {
	return option{flag: newFlag(name, usage, *field(&d.Training)),
		training: func(c *cli.Context, t *trainer.Training) { *field(t) = c.Value(name).(T) }}
}

// machineFlag binds a flag to a field of the machine part; its default is
// the field's in d.
func machineFlag[T flagValue](d *trainer.Config, name, usage string, field func(*trainer.Machine) *T) option {
	return option{flag: newFlag(name, usage, *field(&d.Machine)),
		machine: func(c *cli.Context, m *trainer.Machine) { *field(m) = c.Value(name).(T) }}
}

// commandFlag is a flag of the command, not of trainer.Config.
func commandFlag(f cli.Flag, resumable bool) option { return option{flag: f, resumable: resumable} }

// trainOptions are the training flags other than the techniques'.
func trainOptions(d trainer.Config) []option {
	resume := &cli.StringFlag{Name: "resume"} // its usage lists the others
	opts := []option{
		trainingFlag(&d, "epochs", "number of epochs", func(t *trainer.Training) *int { return &t.Epochs }),
		trainingFlag(&d, "lr", "maximum learning rate of OneCycleLR (max_lr)", func(t *trainer.Training) *float64 { return &t.LR }),
		trainingFlag(&d, "batch-size", "images per training batch", func(t *trainer.Training) *int { return &t.BatchSize }),
		trainingFlag(&d, "momentum", "SGD momentum (replaced each step by OneCycleLR's 0.95..0.85 cycle unless -cycle-momentum=false)",
			func(t *trainer.Training) *float64 { return &t.Momentum }),
		trainingFlag(&d, "cycle-momentum", "let OneCycleLR cycle the momentum, as PyTorch does by default",
			func(t *trainer.Training) *bool { return &t.CycleMomentum }),
		trainingFlag(&d, "weight-decay", "SGD weight decay (L2)", func(t *trainer.Training) *float64 { return &t.WeightDecay }),
		trainingFlag(&d, "dropout", "dropout probability before the classifier", func(t *trainer.Training) *float64 { return &t.Dropout }),
		trainingFlag(&d, "label-smoothing", "label smoothing of the training loss (test loss is plain cross-entropy)",
			func(t *trainer.Training) *float64 { return &t.LabelSmoothing }),
		trainingFlag(&d, "model", "network: "+modelList(), func(t *trainer.Training) *string { return &t.Model }),
		{flag: newFlag("data", "CIFAR-10 folder or archive (default ./data, downloaded if missing); with -resume, "+
			"where the run's data set is now (it must hold the same images)", d.Data),
			machine: func(c *cli.Context, m *trainer.Machine) { m.Data = absPath(c.String("data")) }},
		{flag: newFlag("out", "output folder for checkpoints, metrics, plots and weights", d.Out),
			machine:     func(c *cli.Context, m *trainer.Machine) { m.Out = c.String("out") },
			notOnResume: "a resumed %s continues in the folder of its checkpoint"},
		trainingFlag(&d, "seed", "random seed (weights, shuffling, augmentation, dropout)", func(t *trainer.Training) *uint64 { return &t.Seed }),
		trainingFlag(&d, "augment", "apply the seed's augmentations to training images", func(t *trainer.Training) *bool { return &t.Augment }),
		machineFlag(&d, "device", "auto, cpu, cuda or cuda:N", func(m *trainer.Machine) *string { return &m.Device }),
		{flag: threadsFlag(), machine: func(c *cli.Context, m *trainer.Machine) { m.Threads = c.Int("threads") },
			byDevice: func(dd torch.DeviceDefaults, m *trainer.Machine) { m.Threads = dd.Threads }},
		{flag: workersFlag(), machine: func(c *cli.Context, m *trainer.Machine) { m.Workers = c.Int("workers") },
			byDevice: func(dd torch.DeviceDefaults, m *trainer.Machine) { m.Workers = dd.Workers }},
		{flag: &cli.BoolFlag{Name: "channels-last", Usage: "feed images in NHWC memory layout",
			DefaultText: "on for the CPU, where oneDNN's convolutions run faster with it; off for CUDA"},
			machine:  func(c *cli.Context, m *trainer.Machine) { m.ChannelsLast = c.Bool("channels-last") },
			byDevice: func(dd torch.DeviceDefaults, m *trainer.Machine) { m.ChannelsLast = dd.ChannelsLast }},
		machineFlag(&d, "device-augment", "make the training batches on the device: the training set uploaded once as uint8, "+
			"each batch augmented there with batched tensor ops, the same batches as the host loader's bit for bit; "+
			"auto, on or off (auto: on for CUDA, off for the CPU)", func(m *trainer.Machine) *string { return &m.DeviceAugment }),
		trainingFlag(&d, "autocast", "run convolutions and matrix products in bfloat16 on the CPU (torch.autocast): faster where the CPU "+
			"has bfloat16 instructions (AVX512-BF16, AMX), expected to be slower where it has not", func(t *trainer.Training) *bool { return &t.Autocast }),
		trainingFlag(&d, "train-limit", "use only N training images, spread over the classes (quick runs)",
			func(t *trainer.Training) *int { return &t.TrainLimit }),
		trainingFlag(&d, "test-limit", "use only N test images, spread over the classes (quick runs)",
			func(t *trainer.Training) *int { return &t.TestLimit }),
		commandFlag(resume, true),
		commandFlag(&cli.StringFlag{Name: "init-from", Usage: "start from the weights in this state_dict or TorchScript file"}, false),
		{flag: &cli.StringFlag{Name: "tensorboard", Usage: "TensorBoard log folder (tensorboard --logdir DIR) that runs may share: " +
			"a run writes into DIR/<run name>, its run name being -out's base name; off writes none",
			DefaultText: "<out>/tensorboard"},
			machine: func(c *cli.Context, m *trainer.Machine) { m.TensorBoard = tensorBoardFrom(c) }},
		trainingFlag(&d, "tensorboard-every", "also log the training loss of every N-th step to TensorBoard (0: only per epoch)",
			func(t *trainer.Training) *int { return &t.TensorBoardEvery }),
		commandFlag(distTimeoutFlag(), true),
		commandFlag(&cli.BoolFlag{Name: "overwrite",
			Usage: "start a new run in an -out folder that holds another run's checkpoint, removing that run's files"}, false),
	}
	resume.Usage = "continue the run in this checkpoint file or output folder (its training settings are reused; " +
		"only " + resumeFlagsText(opts) + " and the log flags may be given with it)"
	return opts
}

// techniqueOptions are the training techniques' flags (trainer.Techniques
// and the recipe that sets them); their defaults are the seed recipe's.
func techniqueOptions(d trainer.Config) []option {
	return []option{
		trainingFlag(&d, "recipe", "named defaults for the training settings: seed (the seed project's) or "+bestRecipeText()+
			"; flags given explicitly override the recipe's values", func(t *trainer.Training) *string { return &t.Recipe }),
		trainingFlag(&d, "ema", "decay of an exponential moving average of the weights and buffers, updated after every step "+
			"(torch.optim.swa_utils.AveragedModel with use_buffers=True); the test passes and the exported weights use it; 0 is off",
			func(t *trainer.Training) *float64 { return &t.EMA }),
		trainingFlag(&d, "tta", flipUsage+" in the run's test passes", func(t *trainer.Training) *bool { return &t.TTA }),
		trainingFlag(&d, "tta-translate", translateUsage+" in the run's test passes", func(t *trainer.Training) *bool { return &t.TTATranslate }),
		trainingFlag(&d, "no-decay-bn-bias", "no weight decay on BatchNorm weights and on biases (a second SGD parameter group)",
			func(t *trainer.Training) *bool { return &t.NoDecayBNBias }),
		trainingFlag(&d, "nesterov", "Nesterov momentum (SGD nesterov=True)", func(t *trainer.Training) *bool { return &t.Nesterov }),
		trainingFlag(&d, "pct-start", "OneCycleLR's pct_start: the fraction of the steps spent raising the learning rate",
			func(t *trainer.Training) *float64 { return &t.PctStart }),
		trainingFlag(&d, "anneal", "OneCycleLR's anneal_strategy: cos or linear", func(t *trainer.Training) *string { return &t.Anneal }),
		trainingFlag(&d, "flip", "horizontal flips of training images: random (p=0.5, the seed's), alternate "+
			"(a seeded random half in epoch 0, then each image flipped on every other epoch, as airbench) or none",
			func(t *trainer.Training) *string { return &t.Flip }),
		trainingFlag(&d, "shift-scale-rotate", "ShiftScaleRotate limits SHIFT,SCALE,ROTATE "+
			"(fractions of the size, scale fraction, degrees; p=0.5), or off", func(t *trainer.Training) *string { return &t.ShiftScaleRotate }),
		trainingFlag(&d, "coarse-dropout", "CoarseDropout HOLES:SIZE, HOLES holes of SIZE x SIZE pixels "+
			"filled with the mean (p=0.5), or off", func(t *trainer.Training) *string { return &t.CoarseDropout }),
		trainingFlag(&d, "random-crop", "torchvision's RandomCrop(32, padding=N, padding_mode=\"reflect\") "+
			"on every training image, after the flip: whole-pixel moves of up to N pixels; 0 is off", func(t *trainer.Training) *int { return &t.RandomCrop }),
		{flag: &cli.BoolFlag{Name: "color", Value: !d.NoColor, Usage: "the seed's colour augmentation, OneOf(RandomBrightnessContrast, " +
			"HueSaturationValue) (p=0.5); -color=false leaves it out"},
			training: func(c *cli.Context, t *trainer.Training) { t.NoColor = !c.Bool("color") }},
		trainingFlag(&d, "whiten", "patch whitening: the first convolution's filters are the principal directions "+
			"of the first 5,000 training images' patches, each scaled to unit variance and paired with its negation, and stay fixed "+
			"(requires_grad false), as airbench's first layer", func(t *trainer.Training) *bool { return &t.Whiten }),
	}
}

// logOptions are the logging flags, which every command takes.
func logOptions() []option {
	return []option{
		commandFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn, error"}, true),
		commandFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"}, true),
	}
}

// allOptions is the whole table.
func allOptions() []option {
	d := trainer.DefaultConfig()
	return append(append(trainOptions(d), techniqueOptions(d)...), logOptions()...)
}

func flagsOf(opts []option) []cli.Flag {
	flags := make([]cli.Flag, len(opts))
	for i, o := range opts {
		flags[i] = o.flag
	}
	return flags
}

// trainFlags, techniqueFlags and logFlags are the table's flags.
func trainFlags(d trainer.Config) []cli.Flag     { return flagsOf(trainOptions(d)) }
func techniqueFlags(d trainer.Config) []cli.Flag { return flagsOf(techniqueOptions(d)) }
func logFlags() []cli.Flag                       { return flagsOf(logOptions()) }

// resumeFlagsText names the flags of opts, other than -resume, that a
// resumed run takes: "-device, -threads, -workers".
func resumeFlagsText(opts []option) string {
	var names []string
	for _, o := range opts {
		if o.takenOnResume() && o.name() != "resume" {
			names = append(names, "-"+o.name())
		}
	}
	return strings.Join(names, ", ")
}

// configFrom returns the configuration the flags give: the -recipe's
// (trainer.RecipeConfig; the seed's techniques left empty, as ever, for a
// command without the technique flags), every flag given explicitly on
// top, and the device's defaults for the machine settings no flag gives.
// An unknown recipe is left in the configuration for Validate to report.
func configFrom(c *cli.Context) trainer.Config {
	cfg, err := trainer.RecipeConfig(c.String("recipe"))
	if err != nil {
		cfg = trainer.DefaultConfig()
	}
	if c.Value("recipe") == nil {
		cfg.Techniques = trainer.Techniques{}
	}
	opts := allOptions()
	for _, o := range opts {
		if c.IsSet(o.name()) {
			o.set(c, &cfg)
		}
	}
	d := rankDefaults(torch.DeviceDefaultsFor(cfg.Device), cfg.Device)
	for _, o := range opts {
		if o.byDevice != nil && !c.IsSet(o.name()) {
			o.byDevice(d, &cfg.Machine)
		}
	}
	return cfg
}

// checkResumeFlags refuses the flags among a command's flags that were
// given but that a resumed run does not take (those of trainer.Training,
// and of the command but -resume's own), and bad values of those it
// takes. what names the resumed thing in the message: "run" or
// "cross-validation".
func checkResumeFlags(c *cli.Context, flags []cli.Flag, what string, cfg trainer.Config) error {
	table := map[string]option{}
	for _, o := range allOptions() {
		table[o.name()] = o
	}
	for _, f := range flags {
		name := f.Names()[0]
		o, known := table[name]
		switch {
		case !c.IsSet(name) || known && o.takenOnResume():
			continue
		case known && o.notOnResume != "":
			return usagef("-%s cannot be given with -resume: %s", name, fmt.Sprintf(o.notOnResume, what))
		}
		return usagef("-%s cannot be changed on -resume: a resumed %s keeps its checkpoint's settings (it takes only %s)",
			name, what, resumeFlagsText(allOptions()))
	}
	if cfg.Threads < 1 || cfg.Workers < 1 {
		return usagef("threads and workers must be at least 1, got %d and %d", cfg.Threads, cfg.Workers)
	}
	return checkThreads(cfg.Threads)
}

// resumeOverride returns the trainer.Options.Override of a resumed run:
// the machine settings given as flags replace the checkpoint's (on
// another device the results are no longer bit-exact); it cannot change
// the training part. With shared set (ranks sharing one machine), threads
// and workers are always this run's (cfg's).
func resumeOverride(c *cli.Context, cfg trainer.Config, shared bool) func(*trainer.Config) {
	return func(r *trainer.Config) {
		for _, o := range allOptions() {
			if o.machine != nil && c.IsSet(o.name()) {
				o.machine(c, &r.Machine)
			}
		}
		if shared {
			r.Threads, r.Workers = cfg.Threads, cfg.Workers
		}
	}
}

// absPath returns path made absolute, or as it is if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil && path != "" {
		return abs
	}
	return path
}

// checkThreads refuses more libtorch threads than the machine has CPUs
// (each is an OS thread spinning on its share of the work).
func checkThreads(n int) error {
	if n > runtime.NumCPU() {
		return usagef("threads must be at most this machine's %d CPUs, got %d", runtime.NumCPU(), n)
	}
	return nil
}

// threadsFlag and workersFlag are every command's -threads and -workers;
// left unset, they take the device's defaults (torch.DeviceDefaultsFor).
func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", Usage: "libtorch intra-op threads",
		DefaultText: fmt.Sprintf("all %d CPUs on the CPU, 2 on CUDA", trainer.DefaultConfig().Threads)}
}

func workersFlag() cli.Flag {
	return &cli.IntFlag{Name: "workers", Usage: "data loader goroutines",
		DefaultText: fmt.Sprintf("all %d CPUs on the CPU, at most 8 on CUDA", trainer.DefaultConfig().Workers)}
}

// flipUsage and translateUsage say what -tta and -tta-translate do.
const (
	flipUsage      = "flip test-time augmentation: average the logits of each image and its mirror image"
	translateUsage = "translate test-time augmentation: also average the logits of each image moved one pixel " +
		"down-right and up-left (reflection padding; weights 1/4 each, 1/2 the image itself; with -tta, each view and its mirror image)"
)

// bestRecipeText says what the best recipe changes, for -recipe's help.
func bestRecipeText() string {
	best, err := trainer.RecipeConfig(trainer.RecipeBest)
	if err != nil {
		panic(err) // a recipe of Recipes() that RecipeConfig does not know
	}
	return best.RecipeText()
}
