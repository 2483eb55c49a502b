package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/internal/lockfile"
	"gotrain/metrics"
	"gotrain/trainer"
)

// Files of the sweep in each trial's folder, beside the run's own.
const (
	RecordFile = "trial.json" // the trial's Record
	LogFile    = "trial.log"  // the output of each of its starts
	// ClaimFile is the lock (internal/lockfile, as a run's LockFile) that
	// the worker running the trial holds, so that no two workers take one
	// trial. It is a file of its own because the trial's run, a process of
	// its own, takes trainer.LockFile.
	ClaimFile = ".sweep-trial.lock"
)

// Status is where a trial stands.
type Status string

// A trial's statuses.
const (
	Pending Status = "pending" // not started
	// Running: started and not ended, or its worker was killed at once
	// (SIGKILL); a later worker resumes it either way.
	Running     Status = "running"
	Interrupted Status = "interrupted" // stopped by a signal with a checkpoint; resumes
	Done        Status = "done"
	Failed      Status = "failed" // with its exit code and error
)

// Record is what the sweep knows of a trial, in RecordFile in its folder.
type Record struct {
	Trial
	Status   Status `json:"status"`
	ExitCode int    `json:"exit_code"` // of its last start; 128+N for a process killed by signal N
	Error    string `json:"error,omitempty"`
	// Args is the command line of its last start (after the program).
	Args    []string  `json:"args"`
	Host    string    `json:"host"`
	Starts  int       `json:"starts"` // 1, plus one per resume or retry
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

// ReadRecord reads the Record in a trial's folder; a folder without one
// gives a Pending record of nothing.
func ReadRecord(dir string) (Record, error) {
	var r Record
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if errors.Is(err, os.ErrNotExist) {
		return Record{Status: Pending}, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		return r, fmt.Errorf("trial record: %w", err)
	}
	return r, nil
}

// ErrInterrupted reports a sweep stopped by its context (a signal) before
// all its trials ended; its trials stopped with checkpoints.
var ErrInterrupted = errors.New("sweep interrupted: run it again to continue")

// Runner runs a sweep's trials, each as a process of Program.
//
// A trial's first start is Program with the plan's shared flags, the
// trial's flags and -out its folder; a trial with a checkpoint (stopped,
// or whose worker was killed) starts as Program -resume its folder. Both
// get MachineArgs. A trial that ended is not run again, except a failed
// one with RetryFailed.
type Runner struct {
	Dir     string // the sweep's folder
	Plan    Plan
	Program string
	// MachineArgs are flags of this machine (-threads, -workers, -device)
	// that every start of a trial gets, new or resumed.
	MachineArgs []string
	// Parallel is how many trials run at once (at least 1).
	Parallel    int
	RetryFailed bool
	Log         *logrus.Logger
	// Output, if set, also receives each trial's output, which always goes
	// to LogFile in its folder.
	Output io.Writer
}

// Outcome counts what a Runner's Run did with its trials.
type Outcome struct {
	Done, Failed, Interrupted int // trials that ran and ended so
	Skipped                   int // ended before (done, or failed without RetryFailed)
	Held                      int // run by another worker at the time
}

// Run runs the trials of the plan with the given indices (all if nil),
// Parallel at once. A failing trial is recorded and the others go on. When
// ctx is cancelled, each running trial is sent SIGINT (it stops at its next
// step with a checkpoint), no other starts, and Run returns ErrInterrupted.
func (r *Runner) Run(ctx context.Context, indices []int) (Outcome, error) {
	if indices == nil {
		for i := range r.Plan.Trials {
			indices = append(indices, i)
		}
	}
	for _, i := range indices {
		if i < 0 || i >= len(r.Plan.Trials) {
			return Outcome{}, fmt.Errorf("trial %d: the sweep has trials 0 to %d", i, len(r.Plan.Trials)-1)
		}
	}
	if r.Output != nil {
		r.Output = &lockedWriter{w: r.Output}
	}
	var (
		mu   sync.Mutex
		out  Outcome
		errs []error
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range max(r.Parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, ran, err := r.trial(ctx, r.Plan.Trials[i])
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("trial %d: %w", i, err))
				case !ran && st == Running:
					out.Held++
				case !ran:
					out.Skipped++
				case st == Done:
					out.Done++
				case st == Failed:
					out.Failed++
				default:
					out.Interrupted++
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range indices {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	if ctx.Err() != nil {
		return out, ErrInterrupted
	}
	return out, nil
}

// trial runs t unless it ended before or another worker holds it, and
// returns its status and whether it ran: Done, Failed or Interrupted
// after a start; Running if another worker holds it, or the status it
// ended with before.
func (r *Runner) trial(ctx context.Context, t Trial) (st Status, ran bool, err error) {
	dir := filepath.Join(r.Dir, t.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("trial folder: %w", err)
	}
	claim, err := lockfile.Acquire(filepath.Join(dir, ClaimFile))
	if held := (*lockfile.HeldError)(nil); errors.As(err, &held) {
		r.Log.Infof("trial %d (%s): run by another worker (process %d); left to it", t.Index, t.Name, held.PID)
		return Running, false, nil
	} else if err != nil {
		return "", false, err
	}
	defer claim.Release()
	// Read under the claim: a worker that held it may have just finished.
	rec, err := ReadRecord(dir)
	if err != nil {
		return "", false, err
	}
	if rec.Status == Done || rec.Status == Failed && !r.RetryFailed {
		r.Log.Debugf("trial %d (%s): %s before; skipped", t.Index, t.Name, rec.Status)
		return rec.Status, false, nil
	}
	var args []string
	what := "starting"
	if _, err := os.Stat(filepath.Join(dir, trainer.CheckpointFile)); err == nil {
		args, what = []string{"-resume=" + dir}, "resuming"
	} else {
		args = append(slices.Clone(r.Plan.Args), t.Args()...)
		args = append(args, "-out="+dir)
	}
	args = append(args, r.MachineArgs...)
	host, _ := os.Hostname()
	rec = Record{Trial: t, Status: Running, Args: args, Host: host, Starts: rec.Starts + 1, Started: time.Now().UTC()}
	if err := writeJSON(filepath.Join(dir, RecordFile), rec); err != nil {
		return "", false, err
	}
	r.Log.Infof("trial %d (%s): %s in %s", t.Index, t.Name, what, dir)
	rec.Status, rec.ExitCode, rec.Error = r.exec(ctx, dir, args)
	rec.Ended = time.Now().UTC()
	if err := writeJSON(filepath.Join(dir, RecordFile), rec); err != nil {
		return "", false, err
	}
	took := rec.Ended.Sub(rec.Started).Round(time.Second)
	switch rec.Status {
	case Done:
		acc := ""
		if hist, err := metrics.ReadJSON(filepath.Join(dir, trainer.MetricsJSONFile)); err == nil && len(hist) > 0 {
			acc = fmt.Sprintf(": test accuracy %.2f%%", hist[len(hist)-1].TestAcc)
		}
		r.Log.Infof("trial %d (%s): done in %v%s", t.Index, t.Name, took, acc)
	case Interrupted:
		r.Log.Warnf("trial %d (%s): interrupted after %v (exit %d); it resumes from its checkpoint", t.Index, t.Name, took, rec.ExitCode)
	default:
		r.Log.Errorf("trial %d (%s): failed after %v with exit %d: %s (output in %s)", t.Index, t.Name, took, rec.ExitCode, rec.Error,
			filepath.Join(dir, LogFile))
	}
	return rec.Status, true, nil
}

// exec runs Program with args, its output appended to the trial's log,
// and returns how it ended. The process has a process group of its own,
// so that a Ctrl-C reaches it once, from here: the trainer stops cleanly
// at its first signal and exits at once at a second.
func (r *Runner) exec(ctx context.Context, dir string, args []string) (Status, int, string) {
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Failed, -1, err.Error()
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), r.Program, strings.Join(args, " "))
	var out io.Writer = logf
	if r.Output != nil {
		out = io.MultiWriter(logf, r.Output)
	}
	tail := &lastBytes{max: 4096}
	cmd := exec.Command(r.Program, args...)
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, tail)
	// Pdeathsig ends the trial if this process dies; it is tied to the
	// thread that started the child, held until the child has ended.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return Failed, -1, err.Error()
	}
	ended := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Signal(os.Interrupt)
		case <-ended:
		}
	}()
	err = cmd.Wait()
	close(ended)
	if err == nil {
		return Done, 0, ""
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Failed, -1, err.Error()
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	// The trainer exits with 128+N after signal N (SIGHUP, SIGINT,
	// SIGTERM) with a checkpoint; so does a trial stopped with the sweep.
	if ctx.Err() != nil || code == 128+int(syscall.SIGHUP) || code == 128+int(syscall.SIGINT) || code == 128+int(syscall.SIGTERM) {
		return Interrupted, code, ""
	}
	msg := tail.lastError()
	if msg == "" {
		msg = ee.String()
	}
	return Failed, code, msg
}

// lastBytes keeps the last max bytes written to it.
type lastBytes struct {
	max int
	b   []byte
}

func (l *lastBytes) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > l.max {
		l.b = slices.Clone(l.b[len(l.b)-l.max:])
	}
	return len(p), nil
}

// lastError returns the trainer's error line ("trainer: ..."), without
// its prefix, or else the last line of the output.
func (l *lastBytes) lastError() string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(l.b, nil))), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "trainer: "); ok {
			return msg
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// lockedWriter serializes the writes of the trials running at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
