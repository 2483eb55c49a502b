package cv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gotrain/dataset"
	"gotrain/internal/lockfile"
	"gotrain/trainer"
)

// configLock is held while a job array's task reads or writes ConfigFile.
const configLock = ".cv.lock"

// ErrOther reports a folder that holds another cross-validation than the
// one a job array's task was given.
var ErrOther = errors.New("the folder holds another cross-validation (other folds or training settings)")

// RunFold trains fold k (1-based) of cv alone, as one task of a job array
// does, in FoldDir(cv.Config.Out, k): the same run, bit for bit, as the
// fold's in Run. The first task saves cv in the folder, the others check
// that theirs is the same (ErrOther if not; the machine settings may
// differ). A fold that finished is not trained again, an interrupted one
// resumes. Collect then tests the folds and writes the table.
func RunFold(ctx context.Context, cv Config, k int, o trainer.Options) error {
	if n := cv.Config.TrainLimit; cv.Folds < 2 || n > 0 && cv.Folds > n {
		return &FoldsError{Folds: cv.Folds, Images: n}
	}
	if k < 1 || k > cv.Folds {
		return fmt.Errorf("fold %d of a %d-fold cross-validation", k, cv.Folds)
	}
	if err := cv.Config.Validate(); err != nil {
		return err
	}
	train, _, err := trainer.LoadData(ctx, cv.Config, o.Log)
	if err != nil {
		return err
	}
	if cv.Folds > train.Len() {
		return &FoldsError{Folds: cv.Folds, Images: train.Len()}
	}
	folds, err := dataset.StratifiedKFold(train.Labels, cv.Folds, cv.Config.Seed)
	if err != nil {
		return fmt.Errorf("cross-validation: %w", err)
	}
	// Written only once the folds are drawn: a refused count leaves nothing.
	out := cv.Config.Out
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := saveOrCheck(out, cv); err != nil {
		return err
	}
	f, fc := folds[k-1], foldConfig(cv.Config, k)
	o.Resume, o.InitFrom = "", ""
	o.Sets = func() (*dataset.Set, *dataset.Set) { return train.Subset(f.Train), train.Subset(f.Val) }
	switch {
	case foldFinished(fc):
		o.Log.Infof("fold %d/%d finished before; skipped", k, cv.Folds)
		return nil
	case fileExists(filepath.Join(fc.Out, trainer.CheckpointFile)):
		o.Log.Infof("fold %d/%d: resuming %s", k, cv.Folds, fc.Out)
		o.Resume = fc.Out
	default:
		o.Log.Infof("fold %d/%d: training on %d images, validating on %d, in %s", k, cv.Folds, len(f.Train), len(f.Val), fc.Out)
	}
	if _, err := trainer.Run(ctx, fc, o); err != nil {
		return fmt.Errorf("fold %d: %w", k, err)
	}
	return nil
}

// saveOrCheck saves cv as the ConfigFile in out, or checks that the one
// there is the same cross-validation, under a lock.
func saveOrCheck(out string, cv Config) error {
	lock, err := lockfile.Wait(filepath.Join(out, configLock))
	if err != nil {
		return fmt.Errorf("cross-validation in %s: %w", out, err)
	}
	defer lock.Release()
	path := filepath.Join(out, ConfigFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return writeConfigJSON(path, cv)
	}
	saved, err := readConfig(path)
	if err != nil {
		return err
	}
	if saved.Folds != cv.Folds || saved.Config.Training != cv.Config.Training {
		return fmt.Errorf("cross-validation in %s: %w", out, ErrOther)
	}
	return nil
}

// Collect tests the folds of the cross-validation in dir on the test set
// and writes its table, as Run does at its end, once every fold has
// finished (RunFold); it fails naming the first one that has not. As with
// Run's o.Resume, o.Override may change the settings of the machine.
func Collect(ctx context.Context, dir string, o trainer.Options) (*Result, error) {
	cv, err := readConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	cv.Config.Out = dir
	for k := 1; k <= cv.Folds; k++ {
		if !foldFinished(foldConfig(cv.Config, k)) {
			return nil, fmt.Errorf("cross-validation in %s: fold %d has not finished", dir, k)
		}
	}
	o.Resume = dir
	return Run(ctx, cv, o)
}
