package trainer

import (
	"fmt"
	"math"
	"runtime"

	"gotrain/dataset"
	"gotrain/model"
)

// Config is everything a run depends on, in two parts: Training, what the
// run computes, and Machine, where and how this machine runs it. A resumed
// run takes Training from its checkpoint and may change Machine (see
// Options.Override): that is the whole resume rule. Both parts are saved in
// every checkpoint as one JSON object (encoding/json flattens embedded
// structs, so the keys are those of the single struct Config once was), and
// a resumed run needs no flags repeated.
type Config struct {
	Training
	Machine
}

// Training is the part of a Config that decides what a run computes: the
// network, the recipe and its techniques, the seed, the image limits and
// what is logged. A resumed run keeps it, and with it gives the
// uninterrupted run's results bit for bit.
type Training struct {
	Model          string  `json:"model"`
	Epochs         int     `json:"epochs"`
	BatchSize      int     `json:"batch_size"`
	LR             float64 `json:"lr"` // OneCycleLR's max_lr
	Momentum       float64 `json:"momentum"`
	CycleMomentum  bool    `json:"cycle_momentum"` // OneCycleLR cycles momentum 0.95 -> 0.85 -> 0.95
	WeightDecay    float64 `json:"weight_decay"`
	Dropout        float64 `json:"dropout"`
	LabelSmoothing float64 `json:"label_smoothing"`
	PctStart       float64 `json:"pct_start"`
	Seed           uint64  `json:"seed"`
	Augment        bool    `json:"augment"`
	// Autocast runs the forward passes under CPU autocast (bfloat16
	// convolutions and matrix products, torch.autocast("cpu")): other
	// numbers, so part of the training, not of the machine.
	Autocast bool `json:"autocast,omitempty"`
	// Limits for quick runs and tests: use only N images, spread evenly
	// over the set (0: all).
	TrainLimit int `json:"train_limit"`
	TestLimit  int `json:"test_limit"`
	// TensorBoardEvery logs the loss of every N-th training step as
	// Loss/train_step (0: none). It changes what the event files hold,
	// so a resumed run keeps it (the folder they go to is the machine's).
	TensorBoardEvery int `json:"tensorboard_every"`

	// The training techniques of recipe.go; a field left empty (a
	// checkpoint from before it existed) means the seed's setting.
	Techniques
}

// Machine is the part of a Config that says where and how this machine
// runs the training; a resumed run may change each field:
//
//   - Data is where this machine has the data set (it must be the same data).
//   - Out is the run's folder: a resumed run continues wherever its
//     checkpoint now is.
//   - Device, Threads and Workers are the hardware and how much of it the
//     run uses. On another device, or with other thread counts, the
//     results may differ in the last bits, as on another machine.
//   - ChannelsLast is the input memory layout, whose best value (and
//     default) follows the device; like the device it may change the
//     last bits, not the computation.
//   - DeviceAugment is where training batches are made: the same batches
//     either way, bit for bit.
//   - TensorBoard is where the event files go.
type Machine struct {
	Data         string `json:"data"`   // folder or archive, absolute once a run starts; "" means ./data, downloaded if missing
	Out          string `json:"out"`    // output folder
	Device       string `json:"device"` // auto, cpu, cuda, cuda:N
	Threads      int    `json:"threads"`
	Workers      int    `json:"workers"`
	ChannelsLast bool   `json:"channels_last"`
	// DeviceAugment says where training batches are made (deviceaug.go):
	// "on" uploads the decoded training set to the device once, as uint8,
	// and augments each batch there with batched tensor ops; "off" augments
	// on the host in the loader's goroutines; "auto" (or "", as checkpoints
	// from before it read) is on for CUDA, off for the CPU.
	DeviceAugment string `json:"device_augment,omitempty"`
	// TensorBoard is the folder of the run's TensorBoard event files
	// (tensorboard.go); a relative path is taken within Out, so the
	// default "tensorboard" is <out>/tensorboard and moves with the run.
	// An absolute path is a log folder shared by runs: the events go to
	// <TensorBoard>/<RunName>. "" writes none.
	TensorBoard string `json:"tensorboard"`
}

// DefaultConfig returns the seed project's recipe.
func DefaultConfig() Config {
	return Config{
		Training: Training{
			Model:            model.Default,
			Epochs:           20,
			BatchSize:        128,
			LR:               0.05,
			Momentum:         0.9,
			CycleMomentum:    true,
			WeightDecay:      5e-4,
			Dropout:          0.05,
			PctStart:         0.3,
			Seed:             1,
			Augment:          true,
			TensorBoardEvery: 50,
			Techniques:       seedTechniques(),
		},
		Machine: Machine{
			Out:           "runs/latest",
			Device:        "auto",
			Threads:       runtime.NumCPU(),
			Workers:       runtime.NumCPU(),
			DeviceAugment: "auto",
			TensorBoard:   "tensorboard",
		},
	}
}

// MaxEpochs bounds Config.Epochs. The learning-rate schedule, the
// checkpoint's lr_history and the run's memory grow with the steps: at
// this bound, CIFAR-10 at the default batch size is about 3.9 million
// steps, whose history alone is tens of megabytes in every checkpoint.
const MaxEpochs = 10000

// Validate reports the first impossible value. Every range check is
// written so that NaN fails it.
func (c Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be at least 1, got %d", c.Epochs)
	case c.Epochs > MaxEpochs:
		return fmt.Errorf("epochs must be at most %d, got %d", MaxEpochs, c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size must be at least 1, got %d", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 1):
		return fmt.Errorf("learning rate must be positive and finite, got %v", c.LR)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("momentum must be in [0, 1), got %v", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 1):
		return fmt.Errorf("weight decay must be finite and not negative, got %v", c.WeightDecay)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("dropout must be in [0, 1), got %v", c.Dropout)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing <= 1):
		return fmt.Errorf("label smoothing must be in [0, 1], got %v", c.LabelSmoothing)
	case !(c.PctStart > 0 && c.PctStart < 1):
		return fmt.Errorf("pct_start must be in (0, 1), got %v", c.PctStart)
	case c.Threads < 1:
		return fmt.Errorf("threads must be at least 1, got %d", c.Threads)
	case c.Threads > runtime.NumCPU():
		return fmt.Errorf("threads must be at most this machine's %d CPUs, got %d", runtime.NumCPU(), c.Threads)
	case c.Workers < 1:
		return fmt.Errorf("loader workers must be at least 1, got %d", c.Workers)
	case c.TrainLimit < 0 || c.TestLimit < 0:
		return fmt.Errorf("image limits must not be negative")
	case c.TrainLimit > 0 && c.TrainLimit < len(dataset.Classes), c.TestLimit > 0 && c.TestLimit < len(dataset.Classes):
		return fmt.Errorf("image limits must be 0 (all) or at least the %d classes, got %d training and %d test images "+
			"(a set without some class is refused, as a data set missing one is)", len(dataset.Classes), c.TrainLimit, c.TestLimit)
	case c.TensorBoardEvery < 0:
		return fmt.Errorf("the TensorBoard step interval must not be negative, got %d", c.TensorBoardEvery)
	case !validDeviceAugment(c.DeviceAugment):
		return fmt.Errorf("device augmentation must be auto, on or off, got %q", c.DeviceAugment)
	case c.Out == "":
		return fmt.Errorf("an output folder is required")
	}
	if err := c.Techniques.validate(c); err != nil {
		return err
	}
	for _, n := range model.Names() {
		if n == c.Model {
			return nil
		}
	}
	return fmt.Errorf("unknown model %q (known: %v)", c.Model, model.Names())
}
