// Package trainer trains the CIFAR-10 networks of package model the way the
// seed project does (SGD with OneCycleLR, cross-entropy, a test pass after
// every epoch) and writes what a run leaves behind: checkpoints, the best and
// final weights (state_dict and TorchScript), metrics and plots.
//
// It holds the training loop, the run's configuration and state, and the
// seed's report lines; what the loop uses lives with its kind: SGD,
// OneCycleLR and the weight average (AveragedModel) in torch/optim, each
// writing its own part of a checkpoint, the checkpoint file in checkpoint,
// the test pass and weight files in infer, the epoch records and their
// files in metrics, the charts in plots, the progress bar in
// internal/progress and the device defaults in torch.
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
	"gotrain/infer"
	"gotrain/metrics"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/distributed"
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
	// its checkpoint; meant for its Machine part (where the data set now
	// is, threads, loader workers, device) when resuming elsewhere. A
	// resumed run refuses a data set whose images differ from the
	// checkpoint's record of them.
	Override func(*Config)

	// Sets, if set, gives the run its training and test sets instead of
	// the data location of its Config (a cross-validation fold).
	Sets func() (train, test *dataset.Set)

	// DistTimeout bounds the rendezvous and every collective of a
	// distributed run (a process started by torchrun); zero means
	// torch/distributed's DefaultTimeout.
	DistTimeout time.Duration
}

// loadSets returns the run's training and test sets: o.Sets's, or
// LoadData's.
func (o Options) loadSets(ctx context.Context, cfg Config) (train, test *dataset.Set, err error) {
	if o.Sets != nil {
		train, test = o.Sets()
		return train, test, nil
	}
	return LoadData(ctx, cfg, o.Log)
}

// LoadData reads cfg's training and test sets as a run does (loadData).
// If ctx is cancelled while the data set is read it returns at once with
// ctx's cause: decoding an archive takes a while and cannot be stopped,
// and nothing is lost by leaving it.
func LoadData(ctx context.Context, cfg Config, log *logrus.Logger) (train, test *dataset.Set, err error) {
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

// Result summarizes a finished run.
type Result struct {
	History []metrics.Epoch
	BestAcc float64
	OutDir  string
}

// Run trains cfg.Model per cfg, or continues the run in o.Resume.
//
// A process that torchrun started (RANK, WORLD_SIZE, ... in its
// environment) trains as one rank of a data-parallel job with the
// semantics of PyTorch's DistributedDataParallel; see distributed.go.
//
// The output folder is locked for the run (LockFile; by rank 0 alone in a
// distributed run, which writes every file): a second run there fails
// with ErrOutInUse. A new run refuses a folder that holds another run's
// checkpoint with a *RunExistsError, unless o.Overwrite is set. A folder
// that Run created is removed again if the run fails before it writes
// anything into it.
//
// When ctx is cancelled, Run stops at the next training step, or after the
// test pass and files of the epoch in progress, writes a checkpoint and
// returns ErrInterrupted. While the data set is read it returns at once,
// with ctx's cause (the reading goes on in the background until done).
func Run(ctx context.Context, cfg Config, o Options) (res *Result, err error) {
	log := o.Log
	env, isRank, err := distributed.LookupEnv()
	if err != nil {
		return nil, err
	}
	worldSize := 1
	if isRank {
		worldSize = env.WorldSize
		if env.Rank != 0 {
			quiet(log)
		}
		autoResume(&o, cfg, env, log)
	}
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
	} else {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		if cfg.Data, err = absData(cfg.Data); err != nil {
			return nil, err
		}
	}
	var out *outDir // rank 0's alone
	if !isRank || env.Rank == 0 {
		if out, err = openOutDir(dir, o.Resume == ""); err != nil {
			return nil, err
		}
		defer func() { out.close(err != nil) }()
	}
	var ck *resumed
	if o.Resume != "" {
		if ck, err = readCheckpoint(path); err != nil {
			return nil, err
		}
		cfg = ck.Config
		cfg.Out = dir
		if o.Override != nil {
			o.Override(&cfg)
		}
		if n := runtime.NumCPU(); cfg.Threads > n {
			log.Warnf("the checkpoint's %d threads are more than this machine's %d CPUs: using %d", cfg.Threads, n, n)
			cfg.Threads = n
		}
		if o.Sets == nil {
			if err := resumeData(&cfg); err != nil {
				return nil, err
			}
		}
		log.Infof("resuming %s at epoch %d, batch %d", path, ck.Epoch+1, ck.Batch)
		if w := max(ck.WorldSize, 1); w != worldSize {
			log.Warnf("the checkpoint was written by %d processes, and %d continue it: a step now takes %d images instead of %d (%d per process), "+
				"so the results will differ from those of the uninterrupted run", w, worldSize, worldSize*cfg.BatchSize, w*cfg.BatchSize, cfg.BatchSize)
		}
	} else if out != nil {
		if err := out.claim(o.Overwrite); err != nil {
			return nil, err
		}
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
	if isRank {
		dev, err = rankDevice(cfg.Device, env)
	}
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
	var d *dist
	if isRank {
		if d, err = newDist(env, dev, o.DistTimeout); err != nil {
			return nil, err
		}
		defer d.close()
	}
	o.Progress = progressOut(o.Progress, d)
	if err := torch.ManualSeed(cfg.Seed); err != nil {
		return nil, err
	}
	net, err := model.New(cfg.Model, model.Options{Dropout: cfg.Dropout})
	if err != nil {
		return nil, err
	}
	defer nn.Free(net)
	// Weights that do not fit fail here, before a data set is read or
	// downloaded. (Rank 0's weights are broadcast to the other ranks.)
	if o.InitFrom != "" && ck == nil && d.isMain() {
		if err := infer.InitFrom(net, o.InitFrom, log); err != nil {
			return nil, err
		}
	}
	var train, test *dataset.Set
	err = d.loadData(func() (err error) {
		train, test, err = o.loadSets(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	data := recordData(train, test)
	if ck != nil {
		if err := checkData(ck.Data, data, cfg.Data, log); err != nil {
			return nil, err
		}
	} else if cfg.Data == "" {
		if cfg.Data, err = absData(defaultData); err != nil {
			return nil, err
		}
	}
	perProc := (train.Len() + worldSize - 1) / worldSize // this process's share
	if cfg.BatchSize > perProc {
		log.Warnf("the batch size %d is more than the %d training images of this process: each epoch is one step of %d",
			cfg.BatchSize, perProc, perProc)
	}
	procs := 1
	if isRank {
		procs = max(env.LocalWorldSize, 1)
	}
	if err := checkBatchMemory(net, min(cfg.BatchSize, perProc), procs, dev); err != nil {
		return nil, err
	}
	if cfg.Whiten {
		if err := setupWhiten(net, train, ck == nil && o.InitFrom == ""); err != nil {
			return nil, err
		}
	}
	opt, err := newOptimizer(net, cfg)
	if err != nil {
		return nil, err
	}
	defer opt.Free()

	trainCfg := dataset.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Workers}
	testCfg := dataset.LoaderConfig{BatchSize: EvalBatchSize(cfg.BatchSize, dev), Workers: cfg.Workers}
	if d != nil {
		// DistributedSampler(shuffle=True, seed=cfg.Seed, drop_last=False),
		// as PyTorch's DDP scripts use it; the test set is split unpadded.
		if trainCfg.Sampler, err = dataset.NewDistributedSampler(train.Len(), env.WorldSize, env.Rank, true, int64(cfg.Seed), false); err != nil {
			return nil, err
		}
		testCfg.Sampler = dataset.Shard{N: test.Len(), NumReplicas: env.WorldSize, Rank: env.Rank}
	}
	pipe := trainPipeline(cfg)
	trainLoader, err := dataset.NewLoader(train, pipe, trainCfg)
	if err != nil {
		return nil, err
	}
	defer trainLoader.Close()
	devAug, err := newDeviceBatches(cfg, dev, train, pipe, trainLoader, log)
	if err != nil {
		return nil, err
	}
	defer devAug.Close()
	testLoader, err := dataset.NewLoader(test, transforms.SeedTest(), testCfg)
	if err != nil {
		return nil, err
	}
	defer testLoader.Close()

	steps := trainLoader.NumBatches()
	sched, err := optim.NewOneCycleLR(schedulerConfig(cfg, steps))
	if err != nil {
		return nil, err
	}
	if err := nn.To(net, dev); err != nil {
		return nil, err
	}
	ema, err := newRunEMA(cfg, net, dev)
	if err != nil {
		return nil, err
	}
	if ema != nil {
		defer ema.Free()
	}
	st := runState{Config: cfg}
	if ck != nil {
		schedCfg := sched.Config() // for this run's steps per epoch
		// With another number of processes the schedule has another
		// number of steps: rescaleResume rebuilds it instead of loading it.
		rescale := max(ck.WorldSize, 1) != worldSize
		if err := restore(ck, net, opt, sched, ema, &st, !rescale); err != nil {
			return nil, err
		}
		if rescale {
			if err := rescaleResume(&st, sched, schedCfg, log); err != nil {
				return nil, err
			}
		}
		if !d.isMain() {
			// The checkpoint's running sums are all ranks'; rank 0 carries them.
			st.Partial = partialEpoch{TrainSecond: st.Partial.TrainSecond}
		}
	}
	// This run's configuration (its machine part may differ from the
	// checkpoint's) and data record.
	st.Config, st.Data, st.WorldSize = cfg, &data, worldSize
	if err := d.syncStart(net, cfg, st, steps); err != nil {
		return nil, err
	}
	if ck == nil {
		printHeader(o.Progress, cfg, net, dev, d.describe(cfg))
	}

	var tb *tbLog // only the main process writes events, as it writes every file
	if d.isMain() {
		if tb, err = openTensorBoard(cfg, st.Step, ck != nil, log); err != nil {
			return nil, err
		}
	}
	r := &run{cfg: cfg, o: o, log: log, net: net, opt: opt, sched: sched, dev: dev,
		train: trainLoader, devAug: devAug, test: testLoader, state: st, tb: tb, ema: ema, dist: d}
	// A run killed after its checkpoint but before (or while) the epoch's
	// other files were written left them a step behind: the checkpoint
	// holds all they show.
	if ck != nil && len(st.History) > 0 && d.isMain() {
		if err := r.writeReports(nil); err != nil {
			return nil, err
		}
	}
	res, err = r.loop(ctx)
	if cerr := tb.close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return res, err
}

// EvalBatchSize is the batch size of test passes for the training batch
// size train. On the CPU it is the
// training batch size, as larger batches were slower per image there
// (oneDNN working sets that outgrow the caches). On a GPU it is 500, a
// divisor of CIFAR-10's 10,000 test images: every batch has the same shape
// (one cuDNN algorithm search) and a pass queues 20 rounds of kernels
// instead of 79.
func EvalBatchSize(train int, dev torch.Device) int {
	if dev.Type == torch.CUDAType {
		return 500
	}
	return train
}

func trainPipeline(cfg Config) *transforms.Pipeline {
	if cfg.Augment {
		return transforms.Train(trainOptions(cfg))
	}
	return transforms.SeedTest()
}

// loadData reads the data set (downloading it into ./data when no data
// location is given and none is there) and applies the image limits and
// then the extra options.
func loadData(ctx context.Context, cfg Config, log *logrus.Logger, extra ...dataset.Option) (train, test *dataset.Set, err error) {
	opts := append([]dataset.Option{dataset.WithLogger(dataset.LoggerFunc(log.Infof)), dataset.WithWorkers(cfg.Workers),
		dataset.WithLimits(cfg.TrainLimit, cfg.TestLimit)}, extra...)
	return dataset.Open(ctx, cfg.Data, opts...)
}

// printHeader prints the seed's run header, with the distributed line
// dist (if any) before its closing rule.
func printHeader(w io.Writer, cfg Config, net nn.Module, dev torch.Device, dist string) {
	n, trainable := nn.NumParameters(net), nn.NumTrainableParameters(net)
	fmt.Fprintf(w, "Model Information:\nModel: %s\nTotal Parameters: %s\nTrainable Parameters: %s\nNon-trainable Parameters: %s\n\n",
		cfg.Model, commas(n), commas(trainable), commas(n-trainable))
	layout := "NCHW input"
	if cfg.ChannelsLast {
		layout = "NHWC (channels-last) input"
	}
	if cfg.Autocast {
		layout += ", bfloat16 autocast"
	}
	fmt.Fprintf(w, "Training Configuration:\nBatch Size: %d\nNumber of Epochs: %d\nLearning Rate: %v\nDevice: %v\nlibtorch: %s, %d threads, %s\n%s%s%s\n",
		cfg.BatchSize, cfg.Epochs, cfg.LR, dev, torch.Version(), torch.NumThreads(), layout, dist, recipeLine(cfg), "==================================================")
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// elapsed returns seconds since t.
func elapsed(t time.Time) float64 { return time.Since(t).Seconds() }
