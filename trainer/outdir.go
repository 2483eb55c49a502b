package trainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gotrain/internal/atomicfile"
	"gotrain/internal/lockfile"
)

// LockFile is the file in the output folder that a run holds locked
// (flock(2)) while it runs, so that no two runs share a folder. A run
// removes it when it ends; one that was killed leaves it behind, unlocked.
const LockFile = ".trainer.lock"

// RunExistsError reports an output folder that holds the checkpoint of
// another run, which a new run there would overwrite.
type RunExistsError struct {
	Dir string
	// Done and Epochs are the checkpoint's finished and planned epochs; 0
	// if the checkpoint could not be read.
	Done, Epochs int
}

func (e *RunExistsError) Error() string {
	what := "the checkpoint of another run"
	if e.Epochs > 0 {
		what = fmt.Sprintf("the checkpoint of another run (%d of %d epochs done)", e.Done, e.Epochs)
	}
	return fmt.Sprintf("output folder %s holds %s: continue that run with -resume %s, or pass -overwrite to start a new one there",
		e.Dir, what, e.Dir)
}

// ErrOutInUse reports an output folder that another running trainer holds.
var ErrOutInUse = errors.New("output folder in use by another trainer")

// runFiles are the files a run writes into its output folder, which a new
// run with Options.Overwrite removes first.
var runFiles = []string{CheckpointFile, BestFile, StateDictFile, TorchScriptFile, MetricsCSVFile, MetricsJSONFile,
	LossPlotFile, AccuracyPlotFile, LRPlotFile, ConfusionFile}

// outDir is a run's output folder, held locked while the run goes on.
type outDir struct {
	path string
	lock *lockfile.Lock
	// created is the outermost folder that openOutDir created for the
	// run ("" if the folder existed).
	created string
}

// openOutDir makes sure dir exists (creating it and its parents if create
// is set) and can be written, locks it, and removes the temporary files
// that killed runs left there: with the lock held, no other run can be
// writing them.
func openOutDir(dir string, create bool) (*outDir, error) {
	d := &outDir{path: dir}
	if create {
		// The outermost missing folder, removed again if the run fails
		// before it writes anything.
		for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
			if _, err := os.Lstat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
				break
			}
			d.created = p
			if filepath.Dir(p) == p {
				break
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
	}
	fail := func(err error) (*outDir, error) {
		d.close(true)
		return nil, err
	}
	// Found now rather than when the first epoch's files are written.
	f, err := os.CreateTemp(dir, ".write-check.tmp-*")
	if err != nil {
		return fail(fmt.Errorf("output folder %s is not writable: %w", dir, err))
	}
	f.Close()
	os.Remove(f.Name())
	if d.lock, err = lockfile.Acquire(filepath.Join(dir, LockFile)); err != nil {
		var held *lockfile.HeldError
		if !errors.As(err, &held) {
			return fail(fmt.Errorf("output folder %s: %w", dir, err))
		}
		if held.PID > 0 {
			return fail(fmt.Errorf("%w: %s (process %d)", ErrOutInUse, dir, held.PID))
		}
		return fail(fmt.Errorf("%w: %s", ErrOutInUse, dir))
	}
	if err := atomicfile.RemoveTemps(dir); err != nil {
		return fail(fmt.Errorf("output folder %s: removing temporary files: %w", dir, err))
	}
	return d, nil
}

// claim prepares the folder for a new run: it refuses one that holds
// another run's checkpoint unless overwrite is set, in which case it
// removes that run's files.
func (d *outDir) claim(overwrite bool) error {
	ckpt := filepath.Join(d.path, CheckpointFile)
	if _, err := os.Stat(ckpt); err != nil {
		return nil
	}
	if !overwrite {
		e := &RunExistsError{Dir: d.path}
		if ck, err := readCheckpoint(ckpt); err == nil {
			e.Done, e.Epochs = ck.Epoch, ck.Config.Epochs
		}
		return e
	}
	for _, name := range runFiles {
		if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("output folder %s: %w", d.path, err)
		}
	}
	return nil
}

// close releases the folder's lock. After a failed run it also removes the
// folders that openOutDir created, if they are still empty.
func (d *outDir) close(failed bool) {
	if d.lock != nil {
		d.lock.Release()
		d.lock = nil
	}
	if !failed || d.created == "" {
		return
	}
	for p := filepath.Clean(d.path); ; p = filepath.Dir(p) {
		if os.Remove(p) != nil || p == d.created || filepath.Dir(p) == p {
			return
		}
	}
}
