// Package trainer trains the CIFAR-10 networks of package model the way the
// seed project does (SGD with OneCycleLR, cross-entropy, a test pass after
// every epoch) and writes what a run leaves behind: checkpoints, the best and
// final weights (state_dict and TorchScript), metrics and plots.
//
// It holds the training loop, the run's configuration, its checkpoints and
// weight files, and the seed's report lines; what the loop uses lives with
// its kind: SGD and OneCycleLR in torch/optim, the test pass in infer, the
// epoch records and their files in metrics, the charts in plots, the
// progress bar in internal/progress and the device defaults in torch.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/metrics"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/transforms"
)

// Files a run writes into its output folder.
const (
	CheckpointFile   = "checkpoint.pt"
	BestFile         = "best_state_dict.pt"
	StateDictFile    = "model_state_dict.pt"
	TorchScriptFile  = "model_torchscript.pt"
	MetricsCSVFile   = "metrics.csv"
	MetricsJSONFile  = "metrics.json"
	LossPlotFile     = "loss.png"
	AccuracyPlotFile = "accuracy.png"
	LRPlotFile       = "lr.png"
	ConfusionFile    = "confusion_matrix.png"
)

// ErrInterrupted reports a run stopped by its context (Ctrl-C) after it
// wrote a checkpoint to resume from.
var ErrInterrupted = errors.New("training interrupted; resume with -resume")

// Options are the parts of a run that are not its recipe.
type Options struct {
	Log *logrus.Logger
	// Progress receives the per-epoch progress bar and the seed's report
	// lines; IsTerminal says whether to redraw the bar in place.
	Progress   io.Writer
	IsTerminal bool
	// Resume is a checkpoint file (or a run folder holding one) to continue.
	Resume string
	// InitFrom is a state_dict or TorchScript file to start the weights from.
	InitFrom string
	// Override, if set, changes the configuration a resumed run reads from
	// its checkpoint; meant for settings that do not change the results
	// (threads, loader workers, device) when resuming on another machine.
	Override func(*Config)

	// sets, if set, gives the run its training and test sets instead of
	// the data location of its Config (a cross-validation fold).
	sets func() (train, test *dataset.Set)
}

// loadSets returns the run's training and test sets.
func (o Options) loadSets(ctx context.Context, cfg Config) (train, test *dataset.Set, err error) {
	if o.sets != nil {
		train, test = o.sets()
		return train, test, nil
	}
	return loadData(ctx, cfg, o.Log)
}

// Result summarizes a finished run.
type Result struct {
	History []metrics.Epoch
	BestAcc float64
	OutDir  string
}

// Run trains cfg.Model per cfg, or continues the run in o.Resume.
func Run(ctx context.Context, cfg Config, o Options) (*Result, error) {
	log := o.Log
	var ck *checkpoint
	if o.Resume != "" {
		path := o.Resume
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			path = filepath.Join(path, CheckpointFile)
		}
		var err error
		if ck, err = readCheckpoint(path); err != nil {
			return nil, err
		}
		defer ck.free()
		cfg = ck.Config
		// The run continues where its checkpoint is, wherever it was moved.
		cfg.Out = filepath.Dir(path)
		if o.Override != nil {
			o.Override(&cfg)
		}
		log.Infof("resuming %s at epoch %d, batch %d", path, ck.Epoch+1, ck.Batch)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// libtorch state is per OS thread in places (grad mode, OpenMP): keep
	// the whole run on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(cfg.Threads)
	dev, err := torch.ResolveDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	if cfg.Autocast && dev.Type != torch.CPUType {
		return nil, fmt.Errorf("autocast (bfloat16) is implemented for the CPU only, not %v", dev)
	}
	// Every batch has the same shape (the last one aside), so cuDNN's
	// algorithm search pays for itself within the first steps.
	if dev.Type == torch.CUDAType {
		torch.SetCuDNNBenchmark(true)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	if err := torch.ManualSeed(cfg.Seed); err != nil {
		return nil, err
	}
	net, err := model.New(cfg.Model, model.Options{Dropout: cfg.Dropout})
	if err != nil {
		return nil, err
	}
	defer nn.Free(net)
	// Weights that do not fit fail here, before a data set is read or
	// downloaded.
	if o.InitFrom != "" && ck == nil {
		if err := InitFrom(net, o.InitFrom, log); err != nil {
			return nil, err
		}
	}
	train, test, err := o.loadSets(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, err
	}
	defer opt.Free()

	pipe := trainPipeline(cfg)
	trainLoader, err := dataset.NewLoader(train, pipe, dataset.LoaderConfig{
		BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers,
	})
	if err != nil {
		return nil, err
	}
	defer trainLoader.Close()
	devAug, err := newDeviceBatches(cfg, dev, train, pipe, trainLoader, log)
	if err != nil {
		return nil, err
	}
	defer devAug.close()
	testLoader, err := dataset.NewLoader(test, transforms.SeedTest(), dataset.LoaderConfig{
		BatchSize: evalBatch(cfg.BatchSize, dev), Workers: cfg.Workers,
	})
	if err != nil {
		return nil, err
	}
	defer testLoader.Close()

	steps := trainLoader.NumBatches()
	sched, err := optim.NewOneCycleLR(optim.OneCycleLRConfig{
		MaxLR: cfg.LR, Epochs: cfg.Epochs, StepsPerEpoch: steps, PctStart: cfg.PctStart,
		AnnealStrategy: "cos", CycleMomentum: cfg.CycleMomentum, BaseMomentum: 0.85, MaxMomentum: 0.95,
		DivFactor: 25, FinalDivFactor: 1e4,
	})
	if err != nil {
		return nil, err
	}
	if err := nn.To(net, dev); err != nil {
		return nil, err
	}
	st := runState{Config: cfg}
	if ck != nil {
		if err := restore(ck, net, opt, sched, &st); err != nil {
			return nil, err
		}
	} else {
		st.Scheduler, _ = sched.MarshalJSON()
	}
	if ck == nil {
		printHeader(o.Progress, cfg, net, dev)
	}

	tb, err := openTensorBoard(cfg, st.Step, ck != nil)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, o: o, log: log, net: net, opt: opt, sched: sched, dev: dev,
		train: trainLoader, devAug: devAug, test: testLoader, state: st, tb: tb}
	res, err := r.loop(ctx)
	if cerr := tb.close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return res, err
}

// evalBatch is the batch size of test passes. On the CPU it is the
// training batch size, as larger batches were slower per image there
// (oneDNN working sets that outgrow the caches). On a GPU it is 500, a
// divisor of CIFAR-10's 10,000 test images: every batch has the same shape
// (one cuDNN algorithm search) and a pass queues 20 rounds of kernels
// instead of 79.
func evalBatch(train int, dev torch.Device) int {
	if dev.Type == torch.CUDAType {
		return 500
	}
	return train
}

func trainPipeline(cfg Config) *transforms.Pipeline {
	if cfg.Augment {
		return transforms.SeedTrain()
	}
	return transforms.SeedTest()
}

// loadData reads the data set (downloading it into ./data when no data
// location is given and none is there) and applies the image limits and
// then the extra options.
func loadData(ctx context.Context, cfg Config, log *logrus.Logger, extra ...dataset.Option) (train, test *dataset.Set, err error) {
	src, cacheDir := cfg.Data, cfg.Data
	opts := append([]dataset.Option{dataset.WithLogger(dataset.LoggerFunc(log.Infof)), dataset.WithWorkers(cfg.Workers),
		dataset.WithLimits(cfg.TrainLimit, cfg.TestLimit)}, extra...)
	if src == "" {
		src, cacheDir = "data", "data"
		if err := dataset.Ensure(ctx, src, append(opts, dataset.WithProgress(os.Stderr))...); err != nil {
			return nil, nil, err
		}
	} else if st, err := os.Stat(src); err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	} else if !st.IsDir() {
		// An archive's folder may be read-only (a shared copy): cache in ./data.
		cacheDir = "data"
	}
	return dataset.Load(src, cacheDir, opts...)
}

// printHeader prints the seed's run header.
func printHeader(w io.Writer, cfg Config, net nn.Module, dev torch.Device) {
	n := nn.NumParameters(net)
	fmt.Fprintf(w, "Model Information:\nModel: %s\nTotal Parameters: %s\nTrainable Parameters: %s\nNon-trainable Parameters: 0\n\n",
		cfg.Model, commas(n), commas(n))
	layout := "NCHW input"
	if cfg.ChannelsLast {
		layout = "NHWC (channels-last) input"
	}
	if cfg.Autocast {
		layout += ", bfloat16 autocast"
	}
	fmt.Fprintf(w, "Training Configuration:\nBatch Size: %d\nNumber of Epochs: %d\nLearning Rate: %v\nDevice: %v\nlibtorch: %s, %d threads, %s\n%s\n",
		cfg.BatchSize, cfg.Epochs, cfg.LR, dev, torch.Version(), torch.NumThreads(), layout, "==================================================")
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// restore loads a checkpoint into the model (already on its device),
// optimizer, scheduler and RNG.
func restore(ck *checkpoint, net nn.Module, opt *optim.SGD, sched *optim.OneCycleLR, st *runState) error {
	res, err := nn.LoadStateDict(net, ck.model)
	if err != nil {
		return fmt.Errorf("checkpoint does not fit model %s: %w", ck.Config.Model, err)
	}
	if res.ByOrder {
		return fmt.Errorf("checkpoint does not fit model %s: parameter names differ", ck.Config.Model)
	}
	if err := sched.UnmarshalJSON(ck.Scheduler); err != nil {
		return fmt.Errorf("checkpoint scheduler state: %w", err)
	}
	if err := opt.LoadState(ck.optimizer); err != nil {
		return err
	}
	if len(ck.rng) > 0 {
		if err := torch.SetRNGState(ck.rng); err != nil {
			return err
		}
	}
	*st = ck.runState
	return nil
}

// elapsed returns seconds since t.
func elapsed(t time.Time) float64 { return time.Since(t).Seconds() }
