package trainer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"text/tabwriter"

	"github.com/sirupsen/logrus"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/internal/atomicfile"
	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/transforms"
)

// Files a cross-validation writes into its output folder, next to one run
// folder per fold, fold-1 ... fold-K (FoldDir).
const (
	CVConfigFile = "cv_config.json" // the CVConfig, for resuming
	CVCSVFile    = "cv.csv"         // the CVResult as a table
	CVJSONFile   = "cv.json"        // the CVResult
)

// StdKind names the standard deviation of a CVResult: the sample standard
// deviation over the folds, numpy's std(ddof=1), pandas' default.
const StdKind = "sample (ddof=1)"

// CVConfig is a K-fold cross-validation: Config is the recipe of every
// fold's run, and its Out the folder of the whole cross-validation.
type CVConfig struct {
	Folds  int    `json:"folds"`
	Config Config `json:"config"`
}

// FoldResult is one fold's outcome. Accuracies are in percent, of the
// fold's final network (its last epoch).
type FoldResult struct {
	Fold        int     `json:"fold"` // 1-based
	TrainImages int     `json:"train_images"`
	ValImages   int     `json:"val_images"`
	ValAcc      float64 `json:"val_acc"`  // on the fold's held-out part of the training set
	TestAcc     float64 `json:"test_acc"` // on the test set
}

// CVStats are the mean or standard deviation of the folds' accuracies.
type CVStats struct {
	ValAcc  float64 `json:"val_acc"`
	TestAcc float64 `json:"test_acc"`
}

// CVResult is a finished cross-validation.
type CVResult struct {
	Folds []FoldResult `json:"folds"`
	Mean  CVStats      `json:"mean"`
	Std   CVStats      `json:"std"`
	// StdKind is StdKind.
	StdKind string `json:"std_kind"`
	OutDir  string `json:"-"`
}

// FoldDir is the run folder of fold k (1-based) of the cross-validation
// in dir.
func FoldDir(dir string, k int) string { return filepath.Join(dir, fmt.Sprintf("fold-%d", k)) }

// ErrCVExists reports a new cross-validation asked for in a folder that
// holds one already.
var ErrCVExists = errors.New("the folder holds a cross-validation already: resume it, or choose another output folder")

// CrossValidate trains cv.Config on cv.Folds stratified folds of the
// training set (dataset.StratifiedKFold of the labels, with the run's seed:
// the folds are a pure function of the training set, Folds and Seed). Fold
// k is a normal run in FoldDir(out, k), with its own checkpoint, metrics,
// plots and TensorBoard events, whose test pass after every epoch is on
// the fold's held-out part; the test set is used only at the end, when
// each fold's final network is evaluated on it once. It writes CVCSVFile
// and CVJSONFile into cv.Config.Out.
//
// With o.Resume set to a cross-validation's folder, it continues that one
// with the CVConfig saved there (cv is ignored; o.Override may change the
// settings of the machine, as for Run): folds that finished are skipped,
// an interrupted one resumes from its checkpoint, the others start. An
// interrupted fold makes it return ErrInterrupted. o.InitFrom is not
// supported.
func CrossValidate(ctx context.Context, cv CVConfig, o Options) (*CVResult, error) {
	if o.InitFrom != "" {
		return nil, errors.New("cross-validation: starting from other weights is not supported")
	}
	resume := o.Resume != ""
	if resume {
		dir := o.Resume
		saved, err := readCVConfig(filepath.Join(dir, CVConfigFile))
		if err != nil {
			return nil, err
		}
		cv = saved
		cv.Config.Out = dir
		if o.Override != nil {
			o.Override(&cv.Config)
		}
	}
	if cv.Folds < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, got %d", cv.Folds)
	}
	if err := cv.Config.Validate(); err != nil {
		return nil, err
	}
	out := cv.Config.Out
	if !resume {
		if _, err := os.Stat(filepath.Join(out, CVConfigFile)); err == nil {
			return nil, fmt.Errorf("cross-validation in %s: %w", out, ErrCVExists)
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
		if err := writeJSONFile(filepath.Join(out, CVConfigFile), cv); err != nil {
			return nil, err
		}
	}
	log := o.Log
	train, test, err := loadData(ctx, cv.Config, log)
	if err != nil {
		return nil, err
	}
	folds, err := dataset.StratifiedKFold(train.Labels, cv.Folds, cv.Config.Seed)
	if err != nil {
		return nil, fmt.Errorf("cross-validation: %w", err)
	}
	res := &CVResult{StdKind: StdKind, OutDir: out}
	for i, f := range folds {
		k := i + 1
		fc := foldConfig(cv.Config, k)
		fo := o
		fo.Resume, fo.InitFrom = "", ""
		fo.sets = func() (*dataset.Set, *dataset.Set) { return train.Subset(f.Train), train.Subset(f.Val) }
		switch {
		case resume && foldFinished(fc):
			log.Infof("fold %d/%d finished before; skipped", k, cv.Folds)
		case resume && fileExists(filepath.Join(fc.Out, CheckpointFile)):
			log.Infof("fold %d/%d: resuming %s", k, cv.Folds, fc.Out)
			fo.Resume = fc.Out
			if _, err := Run(ctx, fc, fo); err != nil {
				return nil, fmt.Errorf("fold %d: %w", k, err)
			}
		default:
			log.Infof("fold %d/%d: training on %d images, validating on %d, in %s", k, cv.Folds, len(f.Train), len(f.Val), fc.Out)
			if _, err := Run(ctx, fc, fo); err != nil {
				return nil, fmt.Errorf("fold %d: %w", k, err)
			}
		}
		hist, err := metrics.ReadJSON(filepath.Join(fc.Out, MetricsJSONFile))
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		if len(hist) == 0 {
			return nil, fmt.Errorf("fold %d: %s holds no epoch", k, MetricsJSONFile)
		}
		res.Folds = append(res.Folds, FoldResult{Fold: k, TrainImages: len(f.Train), ValImages: len(f.Val), ValAcc: hist[len(hist)-1].TestAcc})
	}
	if err := testFolds(cv.Config, test, res.Folds, log); err != nil {
		return nil, err
	}
	res.summarize()
	if err := WriteCVCSV(filepath.Join(out, CVCSVFile), res); err != nil {
		return nil, err
	}
	if err := writeJSONFile(filepath.Join(out, CVJSONFile), res); err != nil {
		return nil, err
	}
	return res, nil
}

// foldConfig is the configuration of fold k's run: cfg in FoldDir. In an
// absolute TensorBoard folder the fold's events go to a fold-k folder
// within it, the fold's run name.
func foldConfig(cfg Config, k int) Config {
	fc := cfg
	fc.Out = FoldDir(cfg.Out, k)
	return fc
}

// foldFinished reports whether the fold's run has finished: its last
// output, the TorchScript export, is there and its metrics hold every epoch.
func foldFinished(fc Config) bool {
	if !fileExists(filepath.Join(fc.Out, TorchScriptFile)) || !fileExists(filepath.Join(fc.Out, StateDictFile)) {
		return false
	}
	hist, err := metrics.ReadJSON(filepath.Join(fc.Out, MetricsJSONFile))
	return err == nil && len(hist) == fc.Epochs
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// testFolds evaluates each fold's final weights on the test set and sets
// its TestAcc.
func testFolds(cfg Config, test *dataset.Set, folds []FoldResult, log *logrus.Logger) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(cfg.Threads)
	dev, err := torch.ResolveDevice(cfg.Device)
	if err != nil {
		return err
	}
	loader, err := dataset.NewLoader(test, transforms.SeedTest(), dataset.LoaderConfig{
		BatchSize: evalBatch(cfg.BatchSize, dev), Workers: cfg.Workers,
	})
	if err != nil {
		return err
	}
	defer loader.Close()
	for i := range folds {
		f := &folds[i]
		path := filepath.Join(FoldDir(cfg.Out, f.Fold), StateDictFile)
		net, err := LoadNet(path, cfg.Model, log)
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
		log.Infof("fold %d: %s", f.Fold, EvalSummary(ev.Loss, ev.Correct, ev.Total))
	}
	return nil
}

// summarize sets the mean and the sample standard deviation of the folds'
// accuracies.
func (r *CVResult) summarize() {
	val := make([]float64, len(r.Folds))
	test := make([]float64, len(r.Folds))
	for i, f := range r.Folds {
		val[i], test[i] = f.ValAcc, f.TestAcc
	}
	r.Mean.ValAcc, r.Std.ValAcc = MeanStd(val)
	r.Mean.TestAcc, r.Std.TestAcc = MeanStd(test)
	r.StdKind = StdKind
}

// MeanStd returns the mean of xs and their sample standard deviation
// (divided by n-1, numpy's std(ddof=1)); NaN for what is undefined (no
// values; a deviation of one value).
func MeanStd(xs []float64) (mean, std float64) {
	n := float64(len(xs))
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1))
}

// cvColumns is the header of cv.csv.
var cvColumns = []string{"fold", "train_images", "val_images", "val_acc", "test_acc"}

// WriteCVCSV writes r as CSV, atomically: a header, a row per fold, then
// rows "mean" and "std" (the sample deviation, StdKind) with the image
// columns empty. Accuracies are percent, in the shortest form that reads
// back exactly.
func WriteCVCSV(path string, r *CVResult) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		rows := [][]string{cvColumns}
		for _, fr := range r.Folds {
			rows = append(rows, []string{strconv.Itoa(fr.Fold), strconv.Itoa(fr.TrainImages), strconv.Itoa(fr.ValImages), f(fr.ValAcc), f(fr.TestAcc)})
		}
		rows = append(rows,
			[]string{"mean", "", "", f(r.Mean.ValAcc), f(r.Mean.TestAcc)},
			[]string{"std", "", "", f(r.Std.ValAcc), f(r.Std.TestAcc)})
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		return cw.Error()
	})
}

// WriteTable prints r as an aligned table for people: a row per fold and
// one of mean ± std.
func (r *CVResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fold\ttrain images\tval images\tval acc\ttest acc")
	for _, f := range r.Folds {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.2f%%\t%.2f%%\n", f.Fold, f.TrainImages, f.ValImages, f.ValAcc, f.TestAcc)
	}
	fmt.Fprintf(tw, "mean ± std\t\t\t%.2f ± %.2f%%\t%.2f ± %.2f%%\n", r.Mean.ValAcc, r.Std.ValAcc, r.Mean.TestAcc, r.Std.TestAcc)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "std: %s standard deviation over the %d folds\n", StdKind, len(r.Folds))
	return err
}

// readCVConfig reads the CVConfigFile of a cross-validation.
func readCVConfig(path string) (CVConfig, error) {
	var cv CVConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return cv, fmt.Errorf("cross-validation to resume: %w", err)
	}
	if err := json.Unmarshal(b, &cv); err != nil {
		return cv, fmt.Errorf("cross-validation to resume: %s: %w", path, err)
	}
	return cv, nil
}

// writeJSONFile writes v as indented JSON to path, atomically.
func writeJSONFile(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
