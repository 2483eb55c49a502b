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
	// Overwrite lets a new run start in an output folder that holds
	// another run's checkpoint, removing that run's files.
	Overwrite bool
	// Override, if set, changes the configuration a resumed run reads from
	// its checkpoint; meant for settings that do not change the results
	// (threads, loader workers, device) when resuming on another machine.
	Override func(*Config)
}

// Result summarizes a finished run.
type Result struct {
	History []metrics.Epoch
	BestAcc float64
	OutDir  string
}

// Run trains cfg.Model per cfg, or continues the run in o.Resume.
//
// The output folder is locked for the run (LockFile): a second run there
// fails with ErrOutInUse. A new run refuses a folder that holds another
// run's checkpoint with a *RunExistsError, unless o.Overwrite is set. A
// folder that Run created is removed again if the run fails before it
// writes anything into it.
//
// When ctx is cancelled, Run stops at the next training step, or after the
// test pass and files of the epoch in progress, writes a checkpoint and
// returns ErrInterrupted. While the data set is read it returns at once,
// with ctx's cause (the reading goes on in the background until done).
func Run(ctx context.Context, cfg Config, o Options) (res *Result, err error) {
	log := o.Log
	dir, path := cfg.Out, ""
	if o.Resume != "" {
		// The run continues where its checkpoint is, wherever it was moved.
		path, dir = o.Resume, filepath.Dir(o.Resume)
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if st.IsDir() {
			path, dir = filepath.Join(path, CheckpointFile), path
		}
	} else if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out, err := openOutDir(dir, o.Resume == "")
	if err != nil {
		return nil, err
	}
	defer func() { out.close(err != nil) }()
	var ck *checkpoint
	if o.Resume != "" {
		if ck, err = readCheckpoint(path); err != nil {
			return nil, err
		}
		defer ck.free()
		cfg = ck.Config
		cfg.Out = dir
		if o.Override != nil {
			o.Override(&cfg)
		}
		log.Infof("resuming %s at epoch %d, batch %d", path, ck.Epoch+1, ck.Batch)
	} else if err := out.claim(o.Overwrite); err != nil {
		return nil, err
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
	train, test, err := loadDataUntil(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, err
	}
	defer opt.Free()

	trainLoader, err := dataset.NewLoader(train, trainPipeline(cfg), dataset.LoaderConfig{
		BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers,
	})
	if err != nil {
		return nil, err
	}
	defer trainLoader.Close()
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

	r := &run{cfg: cfg, o: o, log: log, net: net, opt: opt, sched: sched, dev: dev,
		train: trainLoader, test: testLoader, state: st}
	// A run killed after its checkpoint but before (or while) the epoch's
	// other files were written left them a step behind: the checkpoint
	// holds all they show.
	if ck != nil && len(st.History) > 0 {
		if err := r.writeReports(); err != nil {
			return nil, err
		}
	}
	return r.loop(ctx)
}

// loadDataUntil is loadData, returning early with ctx's cause if ctx is
// cancelled first: decoding an archive takes a while and cannot be
// stopped, and nothing is lost by leaving it.
func loadDataUntil(ctx context.Context, cfg Config, log *logrus.Logger) (train, test *dataset.Set, err error) {
	type sets struct {
		train, test *dataset.Set
		err         error
	}
	done := make(chan sets, 1)
	go func() {
		train, test, err := loadData(ctx, cfg, log)
		done <- sets{train, test, err}
	}()
	select {
	case s := <-done:
		return s.train, s.test, s.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("reading the data set: %w", context.Cause(ctx))
	}
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
