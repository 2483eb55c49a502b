package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"gotrain/internal/atomicfile"
	"gotrain/internal/lockfile"
)

// Files a sweep writes into its folder, beside one folder per trial.
const (
	PlanFile     = "sweep_config.json" // the Plan: the space, the shared flags, the trials
	CSVFile      = "sweep.csv"         // the Table, a row per trial in trial order
	JSONFile     = "sweep.json"        // the Table
	MarkdownFile = "sweep.md"          // the Table for people, sorted by test accuracy
	// PlotPrefix starts the name of each parameter's plot of test accuracy
	// against its values: sweep_lr.png.
	PlotPrefix = "sweep_"

	planLock = ".sweep.lock" // held while the plan is read or written
)

// Plan is a sweep: its search space, the training flags that every trial
// shares (as "-name=value"), and the trials. It is written once, into
// PlanFile, by the first process of the sweep; later ones (the other tasks
// of a job array, a continuation) read it.
type Plan struct {
	Space  Space    `json:"space"`
	Args   []string `json:"args"`
	Trials []Trial  `json:"trials"`
}

// NewPlan returns the plan of space with the shared flags args.
func NewPlan(space Space, args []string) (Plan, error) {
	trials, err := space.Trials()
	if err != nil {
		return Plan{}, err
	}
	return Plan{Space: space, Args: slices.Clone(args), Trials: trials}, nil
}

// OtherSweepError reports a folder that holds a sweep other than the one
// asked for.
type OtherSweepError struct{ Dir string }

func (e *OtherSweepError) Error() string {
	return fmt.Sprintf("%s holds another sweep (other parameters or training flags): continue it with the same flags, or with -out %s alone, or choose another -out", e.Dir, e.Dir)
}

// ErrNoSweep reports a folder without a sweep's PlanFile.
var ErrNoSweep = errors.New("no sweep there")

// Open returns the plan of the sweep in dir. With p nil it reads the saved
// plan (ErrNoSweep if there is none); otherwise it saves *p there if dir
// holds no sweep yet, and returns an *OtherSweepError if it holds another.
// Processes that open one folder at once agree on one plan: the check and
// the write happen under a lock.
func Open(dir string, p *Plan) (Plan, error) {
	if p == nil {
		if _, err := os.Stat(dir); err != nil {
			return Plan{}, fmt.Errorf("sweep: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return Plan{}, fmt.Errorf("sweep folder: %w", err)
	}
	lock, err := lockfile.Wait(filepath.Join(dir, planLock))
	if err != nil {
		return Plan{}, fmt.Errorf("sweep folder %s: %w", dir, err)
	}
	defer lock.Release()
	path := filepath.Join(dir, PlanFile)
	saved, err := readPlan(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && p == nil:
		return Plan{}, fmt.Errorf("%s: %w (%s missing)", dir, ErrNoSweep, PlanFile)
	case errors.Is(err, os.ErrNotExist):
		if err := writeJSON(path, p); err != nil {
			return Plan{}, err
		}
		return *p, nil
	case err != nil:
		return Plan{}, err
	case p != nil && !samePlan(saved, *p):
		return Plan{}, &OtherSweepError{Dir: dir}
	}
	return saved, nil
}

// samePlan reports whether a and b are one sweep.
func samePlan(a, b Plan) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func readPlan(path string) (Plan, error) {
	var p Plan
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("sweep plan %s: %w", path, err)
	}
	for i, t := range p.Trials {
		if t.Index != i || t.Name == "" || t.Name != filepath.Base(t.Name) {
			return p, fmt.Errorf("sweep plan %s: trial %d is damaged", path, i)
		}
	}
	return p, nil
}

// writeJSON writes v as indented JSON to path, atomically.
func writeJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
