// Package cv is K-fold cross-validation of a training recipe: a run of
// package trainer per stratified fold of the training set, then each
// fold's final network tested once on the test set, and the folds'
// accuracies with their mean and standard deviation (Result).
package cv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/internal/atomicfile"
	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/trainer"
	"gotrain/transforms"
)

// Files a cross-validation writes into its output folder, next to one run
// folder per fold, fold-1 ... fold-K (FoldDir).
const (
	ConfigFile = "cv_config.json" // the Config, for resuming
	CSVFile    = "cv.csv"         // the Result as a table
	JSONFile   = "cv.json"        // the Result
)

// Config is a K-fold cross-validation: Config is the recipe of every
// fold's run, and its Out the folder of the whole cross-validation.
type Config struct {
	Folds  int            `json:"folds"`
	Config trainer.Config `json:"config"`
}

// FoldDir is the run folder of fold k (1-based) of the cross-validation
// in dir.
func FoldDir(dir string, k int) string { return filepath.Join(dir, fmt.Sprintf("fold-%d", k)) }

// ErrExists reports a new cross-validation asked for in a folder that
// holds one already.
var ErrExists = errors.New("the folder holds a cross-validation already: resume it, or choose another output folder")

// FoldsError reports a number of folds that the training set cannot be
// split into: fewer than 2, or more than its images (each fold holds out
// at least one).
type FoldsError struct {
	Folds  int
	Images int // the training images; 0 for fewer than 2 folds
}

func (e *FoldsError) Error() string {
	if e.Folds < 2 {
		return fmt.Sprintf("cross-validation needs at least 2 folds, got %d", e.Folds)
	}
	return fmt.Sprintf("cross-validation: %d folds of %d training images: each fold needs at least one (at most %d folds)", e.Folds, e.Images, e.Images)
}

// Run trains cv.Config on cv.Folds stratified folds of the training set
// (dataset.StratifiedKFold of the labels, with the run's seed: the folds
// are a pure function of the training set, Folds and Seed). Fold k is a
// normal trainer.Run in FoldDir(out, k), with its own checkpoint, metrics,
// plots and TensorBoard events, whose test pass after every epoch is on
// the fold's held-out part; the test set is used only at the end, when
// each fold's final network is evaluated on it once. It writes CSVFile
// and JSONFile into cv.Config.Out.
//
// A fold count the training set cannot be split into is a *FoldsError,
// returned before anything is written (for a bound that needs the data's
// size, once the data is read). A new cross-validation refuses a folder
// that holds one (ErrExists), unless o.Overwrite is set: then what a
// cross-validation writes there (its files and fold folders, of a
// finished or a failed one) is removed first.
//
// With o.Resume set to a cross-validation's folder, it continues that one
// with the Config saved there (cv is ignored; o.Override may change the
// settings of the machine, as for trainer.Run): folds that finished are
// skipped, an interrupted one resumes from its checkpoint, the others
// start. When ctx is cancelled (a signal), the fold in progress stops as
// trainer.Run does, with a checkpoint, and Run returns an error wrapping
// trainer.ErrInterrupted; between folds or in the final test passes it
// returns ctx's cause. o.InitFrom and o.Sets are not supported.
func Run(ctx context.Context, cv Config, o trainer.Options) (*Result, error) {
	if o.InitFrom != "" {
		return nil, errors.New("cross-validation: starting from other weights is not supported")
	}
	resume := o.Resume != ""
	if resume {
		dir := o.Resume
		saved, err := readConfig(filepath.Join(dir, ConfigFile))
		if err != nil {
			return nil, err
		}
		cv = saved
		cv.Config.Out = dir
		if o.Override != nil {
			o.Override(&cv.Config)
		}
	}
	if n := cv.Config.TrainLimit; cv.Folds < 2 || n > 0 && cv.Folds > n {
		return nil, &FoldsError{Folds: cv.Folds, Images: n}
	}
	if err := cv.Config.Validate(); err != nil {
		return nil, err
	}
	out := cv.Config.Out
	if !resume && !o.Overwrite {
		if _, err := os.Stat(filepath.Join(out, ConfigFile)); err == nil {
			return nil, fmt.Errorf("cross-validation in %s: %w", out, ErrExists)
		}
	}
	log := o.Log
	train, test, err := trainer.LoadData(ctx, cv.Config, log)
	if err != nil {
		return nil, err
	}
	if cv.Folds > train.Len() {
		return nil, &FoldsError{Folds: cv.Folds, Images: train.Len()}
	}
	folds, err := dataset.StratifiedKFold(train.Labels, cv.Folds, cv.Config.Seed)
	if err != nil {
		return nil, fmt.Errorf("cross-validation: %w", err)
	}
	if !resume {
		if o.Overwrite {
			if err := removeCV(out); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
		if err := writeConfigJSON(filepath.Join(out, ConfigFile), cv); err != nil {
			return nil, err
		}
	}
	res := &Result{StdKind: StdKind, OutDir: out}
	for i, f := range folds {
		k := i + 1
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cross-validation stopped before fold %d: %w", k, context.Cause(ctx))
		}
		fc := foldConfig(cv.Config, k)
		fo := o
		fo.Resume, fo.InitFrom = "", ""
		fo.Sets = func() (*dataset.Set, *dataset.Set) { return train.Subset(f.Train), train.Subset(f.Val) }
		switch {
		case resume && foldFinished(fc):
			log.Infof("fold %d/%d finished before; skipped", k, cv.Folds)
		case resume && fileExists(filepath.Join(fc.Out, trainer.CheckpointFile)):
			log.Infof("fold %d/%d: resuming %s", k, cv.Folds, fc.Out)
			fo.Resume = fc.Out
			if _, err := trainer.Run(ctx, fc, fo); err != nil {
				return nil, foldError(k, cv.Folds, out, err, log)
			}
		default:
			log.Infof("fold %d/%d: training on %d images, validating on %d, in %s", k, cv.Folds, len(f.Train), len(f.Val), fc.Out)
			if _, err := trainer.Run(ctx, fc, fo); err != nil {
				return nil, foldError(k, cv.Folds, out, err, log)
			}
		}
		hist, err := metrics.ReadJSON(filepath.Join(fc.Out, trainer.MetricsJSONFile))
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		if len(hist) == 0 {
			return nil, fmt.Errorf("fold %d: %s holds no epoch", k, trainer.MetricsJSONFile)
		}
		res.Folds = append(res.Folds, FoldResult{Fold: k, TrainImages: len(f.Train), ValImages: len(f.Val), ValAcc: hist[len(hist)-1].TestAcc})
	}
	if err := testFolds(ctx, cv.Config, test, res.Folds, log); err != nil {
		return nil, err
	}
	res.summarize()
	if err := WriteResultCSV(filepath.Join(out, CSVFile), res); err != nil {
		return nil, err
	}
	if err := WriteResultJSON(filepath.Join(out, JSONFile), res); err != nil {
		return nil, err
	}
	return res, nil
}

// foldError is the error of fold k's run; an interrupted one is logged
// with how to continue the cross-validation.
func foldError(k, folds int, out string, err error, log *logrus.Logger) error {
	if errors.Is(err, trainer.ErrInterrupted) {
		log.Warnf("cross-validation interrupted in fold %d/%d; continue it with: trainer cv -resume %s", k, folds, out)
	}
	return fmt.Errorf("fold %d: %w", k, err)
}

// removeCV removes what a cross-validation writes into dir, for
// Options.Overwrite: its files and its fold folders (FoldDir), and
// nothing else.
func removeCV(dir string) error {
	for _, name := range []string{ConfigFile, CSVFile, JSONFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("overwrite: %w", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("overwrite: %w", err)
	}
	for _, e := range entries {
		k, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "fold-"))
		if !e.IsDir() || err != nil || k < 1 || FoldDir(dir, k) != filepath.Join(dir, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("overwrite: %w", err)
		}
	}
	return nil
}

// foldConfig is the configuration of fold k's run: cfg in FoldDir. In an
// absolute TensorBoard folder the fold's events go to a fold-k folder
// within it, the fold's run name.
func foldConfig(cfg trainer.Config, k int) trainer.Config {
	fc := cfg
	fc.Out = FoldDir(cfg.Out, k)
	return fc
}

// foldFinished reports whether the fold's run has finished: its last
// output, the TorchScript export, is there and its metrics hold every epoch.
func foldFinished(fc trainer.Config) bool {
	if !fileExists(filepath.Join(fc.Out, trainer.TorchScriptFile)) || !fileExists(filepath.Join(fc.Out, trainer.StateDictFile)) {
		return false
	}
	hist, err := metrics.ReadJSON(filepath.Join(fc.Out, trainer.MetricsJSONFile))
	return err == nil && len(hist) == fc.Epochs
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// testFolds evaluates each fold's final weights on the test set and sets
// its TestAcc.
func testFolds(ctx context.Context, cfg trainer.Config, test *dataset.Set, folds []FoldResult, log *logrus.Logger) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(cfg.Threads)
	dev, err := torch.ResolveDevice(cfg.Device)
	if err != nil {
		return err
	}
	loader, err := dataset.NewLoader(test, transforms.SeedTest(), dataset.LoaderConfig{
		BatchSize: trainer.EvalBatchSize(cfg.BatchSize, dev), Workers: cfg.Workers,
	})
	if err != nil {
		return err
	}
	defer loader.Close()
	for i := range folds {
		f := &folds[i]
		if ctx.Err() != nil {
			return fmt.Errorf("cross-validation stopped before the test pass of fold %d: %w", f.Fold, context.Cause(ctx))
		}
		path := filepath.Join(FoldDir(cfg.Out, f.Fold), trainer.StateDictFile)
		net, err := infer.LoadNet(path, cfg.Model, log)
		if err != nil {
			return fmt.Errorf("fold %d: %w", f.Fold, err)
		}
		err = nn.To(net, dev)
		var ev *infer.Evaluation
		if err == nil {
			ev, err = infer.Evaluate(net, loader, dev, infer.EvalOptions{ChannelsLast: cfg.ChannelsLast, Autocast: cfg.Autocast})
		}
		nn.Free(net)
		if err != nil {
			return fmt.Errorf("fold %d: test set: %w", f.Fold, err)
		}
		f.TestAcc = ev.Accuracy()
		log.Infof("fold %d: %s", f.Fold, trainer.EvalSummary(ev.Loss, ev.Correct, ev.Total))
	}
	return nil
}

// readConfig reads the ConfigFile of a cross-validation.
func readConfig(path string) (Config, error) {
	var cv Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cv, fmt.Errorf("cross-validation to resume: %w", err)
	}
	if err := json.Unmarshal(b, &cv); err != nil {
		return cv, fmt.Errorf("cross-validation to resume: %s: %w", path, err)
	}
	return cv, nil
}

// writeConfigJSON writes cv, the ConfigFile, as indented JSON to path,
// atomically.
func writeConfigJSON(path string, cv Config) error { return writeIndentedJSON(path, cv) }

// writeIndentedJSON writes v as indented JSON to path, atomically.
func writeIndentedJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
