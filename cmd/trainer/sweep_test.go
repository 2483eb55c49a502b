package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotrain/metrics"
	"gotrain/sweep"
	"gotrain/trainer"
)

// tinySweep is the training flags of a sweep's tiny trials on the shared
// archive (a few seconds each).
func tinySweep(extra ...string) []string {
	args := []string{"-model", "seed", "-epochs", "1", "-batch-size", "64", "-train-limit", "512", "-test-limit", "100",
		"-data", archive, "-tensorboard", "off"}
	return append(args, extra...)
}

func TestSweepUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sweep")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-param", "nosuch=1,2"}, "-param nosuch: no such training flag"},
		{[]string{"-param", "lr=0.1,fast"}, `trial 1 (lr=fast): invalid value "fast" for flag -lr`},
		{[]string{"-param", "lr=0.1", "-lr", "0.2"}, "-lr is both given and swept"},
		{[]string{"-param", "threads=1,2"}, "-param threads: a setting of the machine"},
		{[]string{"-param", "seed=1..3", "-random", "4"}, "random: 4 trials asked of a grid of 3 points"},
		{[]string{"-param", "seed=1..3", "-trial", "3"}, "trial 3: the sweep has trials 0 to 2"},
		{[]string{"-param", "seed=1,1"}, `value "1" given twice`},
		{[]string{"-epochs", "1"}, "give the parameters to sweep"},
		{[]string{"-param", "seed=1", "-parallel", "0"}, "-parallel must be at least 1"},
	} {
		r := runTrainer(t, append([]string{"sweep", "-out", out}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a sweep refused for its flags created %s", out)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "x")
	if r := runTrainer(t, "sweep", "-out", out, "-param", "seed=1"); r.code != exitUsage || !strings.Contains(r.stderr, `$SLURM_ARRAY_TASK_ID="x"`) {
		t.Errorf("bad SLURM_ARRAY_TASK_ID: exit %d, %s", r.code, r.stderr)
	}
}

// TestSweepInterruptContinue runs a sweep of 8 tiny trials two at a time,
// stops it with SIGINT while trials run, continues it, and checks that
// finished trials were not run again, interrupted ones resumed from their
// checkpoints, and the table holds each trial's own metrics.
func TestSweepInterruptContinue(t *testing.T) {
	needArchive(t)
	out := filepath.Join(t.TempDir(), "sweep")
	args := append([]string{"sweep", "-out", out, "-param", "lr=0.02,0.05", "-param", "seed=1..4", "-parallel", "2"}, tinySweep()...)
	list := runTrainer(t, append(args, "-list")...)
	names := trialNames(t, list)
	if len(names) != 8 || names[5] != "lr=0.05_seed=2" {
		t.Fatalf("-list: %v", names)
	}

	b := startTrainer(t, workDir, args...)
	// Stop it when two trials are done and another is training.
	deadline := time.Now().Add(2 * time.Minute)
	for !(countStatus(t, out, names, sweep.Done) >= 2 && anyTraining(out, names)) {
		if time.Now().After(deadline) {
			t.Fatalf("no two trials done and a third training within 2 minutes\nstderr:\n%s", b.stderr.String())
		}
		select {
		case <-b.done:
			t.Fatalf("sweep ended (exit %d) before it was interrupted\nstderr:\n%s", b.res.code, b.res.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.signal(t, syscall.SIGINT)
	r := b.wait(t, time.Minute)
	if r.code != 128+int(syscall.SIGINT) || !strings.Contains(r.stderr, sweep.ErrInterrupted.Error()) {
		t.Fatalf("interrupted sweep: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	before := map[string]sweep.Record{}
	resumable := 0
	for _, n := range names {
		rec, err := sweep.ReadRecord(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		before[n] = rec
		if rec.Status == sweep.Failed || rec.Status == sweep.Running {
			t.Errorf("trial %s: %s after the interruption (exit %d: %s)", n, rec.Status, rec.ExitCode, rec.Error)
		}
		if rec.Status == sweep.Interrupted && exists(filepath.Join(out, n, trainer.CheckpointFile)) {
			resumable++
		}
	}
	if resumable == 0 {
		t.Errorf("no trial stopped with a checkpoint: %+v", before)
	}

	r = runTrainer(t, args...)
	if r.code != 0 {
		t.Fatalf("continued sweep: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, n := range names {
		rec, err := sweep.ReadRecord(filepath.Join(out, n))
		if err != nil || rec.Status != sweep.Done {
			t.Fatalf("trial %s: %+v, %v", n, rec, err)
		}
		log, err := os.ReadFile(filepath.Join(out, n, sweep.LogFile))
		if err != nil {
			t.Fatal(err)
		}
		switch old := before[n]; {
		case old.Status == sweep.Done:
			if rec.Starts != 1 || !rec.Started.Equal(old.Started) {
				t.Errorf("trial %s finished before and was run again: %+v", n, rec)
			}
		case old.Status == sweep.Interrupted && strings.Contains(string(log), "-resume="):
			if rec.Starts != 2 || !strings.Contains(string(log), "resuming "+filepath.Join(out, n, trainer.CheckpointFile)) {
				t.Errorf("trial %s: %d starts, log:\n%s", n, rec.Starts, log)
			}
			resumable--
		}
		// Threads per trial: the CPUs split over -parallel 2, in the run's header.
		if want := fmt.Sprintf(", %d threads,", max(1, runtime.NumCPU()/2)); !strings.Contains(string(log), want) {
			t.Errorf("trial %s: header lacks %q:\n%s", n, want, log)
		}
		lr := strings.TrimPrefix(strings.Split(n, "_")[0], "lr=")
		if !strings.Contains(string(log), "Learning Rate: "+lr+"\n") {
			t.Errorf("trial %s did not train with -lr %s:\n%s", n, lr, log)
		}
	}
	if resumable != 0 {
		t.Errorf("%d trials stopped with a checkpoint and were not resumed from it", resumable)
	}
	checkSweepTable(t, out, names, map[string]string{})

	// The folder alone continues it (nothing left to run); other flags
	// are another sweep.
	if r := runTrainer(t, "sweep", "-out", out); r.code != 0 || strings.Contains(r.stderr, "starting") {
		t.Errorf("sweep -out alone: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, "sweep", "-out", out, "-param", "lr=0.1"); r.code != exitError || !strings.Contains(r.stderr, "holds another sweep") {
		t.Errorf("another sweep in the folder: exit %d\n%s", r.code, r.stderr)
	}
}

// trialNames returns the folder names that sweep -list printed.
func trialNames(t *testing.T, r result) []string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("sweep -list: exit %d: %s", r.code, r.stderr)
	}
	var names []string
	for i, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] != strconv.Itoa(i) {
			t.Fatalf("sweep -list line %q", line)
		}
		names = append(names, f[1])
	}
	return names
}

func countStatus(t *testing.T, dir string, names []string, s sweep.Status) int {
	n := 0
	for _, name := range names {
		if rec, err := sweep.ReadRecord(filepath.Join(dir, name)); err == nil && rec.Status == s {
			n++
		}
	}
	return n
}

// anyTraining reports whether a running trial has begun its epoch.
func anyTraining(dir string, names []string) bool {
	for _, name := range names {
		rec, err := sweep.ReadRecord(filepath.Join(dir, name))
		if err != nil || rec.Status != sweep.Running {
			continue
		}
		if log, err := os.ReadFile(filepath.Join(dir, name, sweep.LogFile)); err == nil && strings.Contains(string(log), "Epoch: 1\n") {
			return true
		}
	}
	return false
}

// checkSweepTable checks sweep.csv against each trial's own metrics.json,
// and the markdown's order; failed names the trials expected to have
// failed, with a text their error holds.
func checkSweepTable(t *testing.T, dir string, names []string, failed map[string]string) {
	t.Helper()
	rows := readCSV(t, filepath.Join(dir, sweep.CSVFile))
	if len(rows) != len(names)+1 {
		t.Fatalf("%s has %d rows, want a header and %d", sweep.CSVFile, len(rows), len(names))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, n := range names {
		row := rows[i+1]
		if row[col["trial"]] != strconv.Itoa(i) || row[col["name"]] != n {
			t.Errorf("row %d: %q", i, row)
			continue
		}
		if msg, ok := failed[n]; ok {
			if row[col["status"]] != "failed" || row[col["exit_code"]] == "" || !strings.Contains(row[col["error"]], msg) {
				t.Errorf("trial %s: row %q, want failed with an error naming %q", n, row, msg)
			}
			continue
		}
		hist, err := metrics.ReadJSON(filepath.Join(dir, n, trainer.MetricsJSONFile))
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		want := map[string]string{"status": "done", "epochs": strconv.Itoa(len(hist)), "test_acc": num(last.TestAcc),
			"test_loss": num(last.TestLoss), "train_loss": num(last.TrainLoss), "train_acc": num(last.TrainAcc)}
		for k, v := range want {
			if row[col[k]] != v {
				t.Errorf("trial %s: %s %q, its metrics say %q", n, k, row[col[k]], v)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, sweep.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	prev := 101.0
	for _, line := range strings.Split(string(md), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 6 || !strings.HasSuffix(line, "s |") || !strings.Contains(line, "| done |") {
			continue
		}
		for _, c := range cells {
			if v, err := strconv.ParseFloat(strings.TrimSuffix(c, "%"), 64); strings.HasSuffix(c, "%") && err == nil {
				if v > prev {
					t.Errorf("%s is not sorted by test accuracy:\n%s", sweep.MarkdownFile, md)
				}
				prev = v
				break
			}
		}
	}
	for _, p := range []string{"lr", "seed", "model"} {
		if strings.Contains(names[0], p+"=") && !exists(filepath.Join(dir, sweep.PlotPrefix+p+".png")) {
			t.Errorf("no plot of %s", p)
		}
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
