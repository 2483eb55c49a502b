package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
	"gotrain/metrics"
	"gotrain/trainer"
	"gotrain/trainer/cv"
)

// TestCrossValidation runs a 5-fold cross-validation of 250 training
// images for one epoch, then takes away the last two folds' work as an
// interruption would (fold 4 stopped after its checkpoint, fold 5 never
// started) and resumes: the finished folds are skipped, and the result is
// the one of the uninterrupted run.
func TestCrossValidation(t *testing.T) {
	needArchive(t)
	out := filepath.Join(t.TempDir(), "cv")
	tb := filepath.Join(t.TempDir(), "tb")
	args := []string{"cv", "-folds", "5", "-model", "seed", "-epochs", "1", "-batch-size", "50", "-train-limit", "250",
		"-test-limit", "100", "-seed", "5", "-threads", "1", "-workers", "2", "-data", archive, "-out", out, "-tensorboard", tb}
	r := runTrainer(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// Every fold's test pass of its epoch is on its 50 held-out images.
	if n := strings.Count(r.stdout, "/50 ("); n != 5 {
		t.Errorf("%d test passes on 50 images, want 5:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "mean ± std") || !strings.Contains(r.stdout, "sample (ddof=1)") {
		t.Errorf("no table of results:\n%s", r.stdout)
	}
	first := readCSV(t, filepath.Join(out, cv.CSVFile))
	if len(first) != 5+3 {
		t.Fatalf("cv.csv has %d lines, want a header, 5 folds, mean and std", len(first))
	}
	var val, test []float64
	for k := 1; k <= 5; k++ {
		row := first[k]
		if row[0] != strconv.Itoa(k) || row[1] != "200" || row[2] != "50" {
			t.Errorf("cv.csv fold %d: %v", k, row)
		}
		dir := cv.FoldDir(out, k)
		hist, err := metrics.ReadJSON(filepath.Join(dir, trainer.MetricsJSONFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || row[3] != strconv.FormatFloat(hist[0].TestAcc, 'g', -1, 64) {
			t.Errorf("fold %d: cv.csv val_acc %s, its run's metrics %+v", k, row[3], hist)
		}
		for _, f := range []string{trainer.CheckpointFile, trainer.StateDictFile, trainer.ConfusionFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("fold %d: %v", k, err)
			}
		}
		if ev, _ := filepath.Glob(filepath.Join(tb, fmt.Sprintf("fold-%d", k), "events.out.tfevents.*")); len(ev) != 1 {
			t.Errorf("fold %d: event files %v in the -tensorboard folder", k, ev)
		}
		val = append(val, parseFloat(t, row[3]))
		test = append(test, parseFloat(t, row[4]))
	}
	// The mean and std rows, as numpy computes them.
	if py := numpyMeanStd(t, val, test); py != nil {
		for i, name := range []string{"mean", "std"} {
			row := first[6+i]
			if row[0] != name || math.Abs(parseFloat(t, row[3])-py[i][0]) > 1e-9 || math.Abs(parseFloat(t, row[4])-py[i][1]) > 1e-9 {
				t.Errorf("cv.csv %s row %v, numpy (ddof=1) %v", name, row, py[i])
			}
		}
	}
	var js struct {
		Folds []struct {
			TestAcc float64 `json:"test_acc"`
		}
		StdKind string `json:"std_kind"`
	}
	b, _ := os.ReadFile(filepath.Join(out, cv.JSONFile))
	if err := json.Unmarshal(b, &js); err != nil || len(js.Folds) != 5 || js.Folds[4].TestAcc != test[4] || js.StdKind != "sample (ddof=1)" {
		t.Errorf("cv.json (%v): %s", err, b)
	}

	t.Run("Resume", func(t *testing.T) {
		weights := map[int][]byte{}
		for _, k := range []int{4, 5} {
			weights[k], _ = os.ReadFile(filepath.Join(cv.FoldDir(out, k), trainer.StateDictFile))
		}
		kept := map[string]time.Time{}
		for k := 1; k <= 3; k++ {
			for _, f := range []string{trainer.CheckpointFile, trainer.MetricsJSONFile, trainer.StateDictFile} {
				p := filepath.Join(cv.FoldDir(out, k), f)
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				kept[p] = st.ModTime()
			}
		}
		for _, p := range []string{
			filepath.Join(cv.FoldDir(out, 4), trainer.StateDictFile), filepath.Join(cv.FoldDir(out, 4), trainer.TorchScriptFile),
			cv.FoldDir(out, 5), filepath.Join(tb, "fold-5"), filepath.Join(out, cv.CSVFile), filepath.Join(out, cv.JSONFile),
		} {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
		r := runTrainer(t, "cv", "-resume", out, "-threads", "1")
		if r.code != 0 {
			t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"fold 1/5 finished before; skipped", "fold 3/5 finished before; skipped", "fold 4/5: resuming", "fold 5/5: training on 200 images"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("resume log lacks %q:\n%s", want, r.stderr)
			}
		}
		for p, mt := range kept {
			if st, err := os.Stat(p); err != nil || !st.ModTime().Equal(mt) {
				t.Errorf("%s of a finished fold was rewritten (%v)", p, err)
			}
		}
		for k, w := range weights {
			if b, err := os.ReadFile(filepath.Join(cv.FoldDir(out, k), trainer.StateDictFile)); err != nil || !bytes.Equal(b, w) {
				t.Errorf("fold %d: final weights differ from the uninterrupted run's (%v)", k, err)
			}
		}
		if again := readCSV(t, filepath.Join(out, cv.CSVFile)); fmt.Sprint(again) != fmt.Sprint(first) {
			t.Errorf("cv.csv after the resume:\n%v\nuninterrupted:\n%v", again, first)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"cv", "-resume", out, "-epochs", "3"}, 2, "-epochs cannot be changed on -resume"},
			{[]string{"cv", "-resume", out, "-folds", "3"}, 2, "-folds cannot be changed on -resume"},
			{[]string{"cv", "-folds", "1", "-out", t.TempDir()}, 2, "-folds must be at least 2"},
			{append(args[:len(args):len(args)], "-seed", "6"), 1, "holds a cross-validation already"},
			{[]string{"cv", "-resume", t.TempDir()}, 1, cv.ConfigFile},
		} {
			r := runTrainer(t, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v: exit %d (want %d), stderr lacks %q:\n%s", c.args, r.code, c.code, c.want, r.stderr)
			}
		}
	})
}

// readCSV returns the rows of a CSV file the test expects to be there.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// numpyMeanStd returns [[mean(a), mean(b)], [std(a), std(b)]] with numpy's
// std(ddof=1), or nil without numpy.
func numpyMeanStd(t *testing.T, a, b []float64) [][2]float64 {
	t.Helper()
	in, _ := json.Marshal([][]float64{a, b})
	out, err := exec.Command(pyref.Python, "-c", `
import json, sys
import numpy as np
a, b = json.loads(sys.argv[1])
print(json.dumps([[np.mean(a), np.mean(b)], [np.std(a, ddof=1), np.std(b, ddof=1)]]))
`, string(in)).Output()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("numpy: %v", err)
		}
		t.Logf("mean and std not checked against numpy: %v", err)
		return nil
	}
	var r [][2]float64
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCVJobArray trains the folds of a 2-fold cross-validation as the
// tasks of a job array would (-trial, $SLURM_ARRAY_TASK_ID), then
// collects them (-collect): the table and each fold's weights are those
// of the same cross-validation run in one go.
func TestCVJobArray(t *testing.T) {
	needArchive(t)
	whole, array := filepath.Join(t.TempDir(), "cv"), filepath.Join(t.TempDir(), "cv")
	args := func(out string, extra ...string) []string {
		return append([]string{"cv", "-folds", "2", "-model", "seed", "-epochs", "1", "-batch-size", "50", "-train-limit", "200",
			"-test-limit", "100", "-seed", "3", "-threads", "1", "-workers", "1", "-data", archive, "-out", out, "-tensorboard", "off"}, extra...)
	}
	if r := runTrainer(t, args(whole)...); r.code != 0 {
		t.Fatalf("cv in one go: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, args(array, "-trial", "1")...); r.code != 0 || !strings.Contains(r.stderr, "fold 2/2: training") {
		t.Fatalf("cv -trial 1: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, "cv", "-collect", "-out", array); r.code != exitError || !strings.Contains(r.stderr, "fold 1 has not finished") {
		t.Errorf("cv -collect with fold 1 missing: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, args(array, "-trial", "2")...); r.code != exitUsage {
		t.Errorf("cv -trial 2 of 2 folds: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, args(array, "-folds", "3", "-trial", "0")...); r.code != exitError || !strings.Contains(r.stderr, cv.ErrOther.Error()) {
		t.Errorf("another cross-validation in the folder: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("SLURM_ARRAY_TASK_ID", "0")
	if r := runTrainer(t, args(array)...); r.code != 0 || !strings.Contains(r.stderr, "fold 1/2: training") {
		t.Fatalf("cv as array task 0: exit %d\n%s", r.code, r.stderr)
	}
	if r := runTrainer(t, args(array)...); r.code != 0 || !strings.Contains(r.stderr, "fold 1/2 finished before; skipped") {
		t.Errorf("cv as array task 0 again: exit %d\n%s", r.code, r.stderr)
	}
	os.Unsetenv("SLURM_ARRAY_TASK_ID") // t.Setenv restores it at the end
	if r := runTrainer(t, "cv", "-collect", "-out", array); r.code != 0 || !strings.Contains(r.stdout, "mean ± std") {
		t.Fatalf("cv -collect: exit %d\n%s", r.code, r.stderr)
	}
	a, err := os.ReadFile(filepath.Join(whole, cv.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(array, cv.CSVFile))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("%s of the array:\n%s\nin one go:\n%s (%v)", cv.CSVFile, b, a, err)
	}
	for k := 1; k <= 2; k++ {
		if !equalTensors(readTensors(t, filepath.Join(cv.FoldDir(whole, k), trainer.StateDictFile)),
			readTensors(t, filepath.Join(cv.FoldDir(array, k), trainer.StateDictFile))) {
			t.Errorf("fold %d: the array task's weights differ from the fold's in one go", k)
		}
	}
}

// TestCVFoldCount refuses impossible fold counts as bad values (exit 2)
// before anything is written: more folds than -train-limit's images at
// once, more than the training set's images once the data is read. Then
// -overwrite starts over in a folder that a failed cross-validation left
// behind, removing its files and fold folders and nothing else.
func TestCVFoldCount(t *testing.T) {
	needArchive(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "cv")
	base := []string{"cv", "-model", "seed", "-epochs", "1", "-batch-size", "50", "-seed", "5", "-threads", "1",
		"-workers", "2", "-data", archive, "-out", out}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-folds", "100000", "-train-limit", "250", "-test-limit", "100"}, "-folds 100000 is more than the 250 training images"},
		{[]string{"-folds", "50001"}, "50001 folds of 50000 training images"},
	} {
		r := runTrainer(t, append(base[:len(base):len(base)], c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d (want 2), stderr lacks %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
		if exists(out) {
			t.Errorf("%v: refused, but left %s: %v", c.args, out, names(t, out))
		}
	}

	// What the -folds 100000 of an earlier binary left, a fold folder of a
	// failed run, and a file that is not the cross-validation's.
	fold1 := cv.FoldDir(out, 1)
	if err := os.MkdirAll(fold1, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, text := range map[string]string{
		filepath.Join(out, cv.ConfigFile): `{"folds": 100000, "config": {}}`,
		filepath.Join(fold1, "stale.txt"): "from the failed run",
		filepath.Join(out, "notes.txt"):   "mine",
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	small := append(base[:len(base):len(base)], "-folds", "2", "-train-limit", "100", "-test-limit", "50")
	if r := runTrainer(t, small...); r.code != 1 || !strings.Contains(r.stderr, "holds a cross-validation already") {
		t.Errorf("without -overwrite: exit %d (want 1):\n%s", r.code, r.stderr)
	}
	r := runTrainer(t, append(small, "-overwrite")...)
	if r.code != 0 {
		t.Fatalf("-overwrite: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if rows := readCSV(t, filepath.Join(out, cv.CSVFile)); len(rows) != 2+3 {
		t.Errorf("cv.csv after -overwrite: %v", rows)
	}
	if exists(filepath.Join(fold1, "stale.txt")) || !exists(filepath.Join(out, "notes.txt")) {
		t.Errorf("-overwrite removed too little or too much: %v, fold-1: %v", names(t, out), names(t, fold1))
	}
	var saved struct{ Folds int }
	if b, err := os.ReadFile(filepath.Join(out, cv.ConfigFile)); err != nil || json.Unmarshal(b, &saved) != nil || saved.Folds != 2 {
		t.Errorf("%s after -overwrite: %s (%v)", cv.ConfigFile, b, err)
	}
}

// TestCVInterrupt stops a cross-validation with SIGINT in its second fold:
// as training does, the fold stops at the next step with a checkpoint and
// the exit status is 130; cv -resume then skips the first fold, continues
// the second from its checkpoint and finishes.
func TestCVInterrupt(t *testing.T) {
	needArchive(t)
	out := filepath.Join(t.TempDir(), "cv")
	b := startTrainer(t, workDir, "cv", "-folds", "2", "-model", "seed", "-epochs", "3", "-batch-size", "20", "-train-limit", "400",
		"-test-limit", "50", "-seed", "5", "-threads", "1", "-workers", "2", "-data", archive, "-out", out)
	b.waitFor(t, "fold 2/2: training on")
	b.signal(t, syscall.SIGINT)
	r := b.wait(t, time.Minute)
	if r.code != 130 || strings.Contains(r.stderr, "exiting at once") || !strings.Contains(r.stderr, "cross-validation interrupted in fold 2/2") {
		t.Fatalf("exit %d (want 130, a clean stop), stderr:\n%s", r.code, r.stderr)
	}
	fold2 := cv.FoldDir(out, 2)
	if !exists(filepath.Join(fold2, trainer.CheckpointFile)) || exists(filepath.Join(fold2, trainer.StateDictFile)) || exists(filepath.Join(out, cv.CSVFile)) {
		t.Errorf("want fold 2's checkpoint, and neither its final weights nor cv.csv: %v, fold-2: %v", names(t, out), names(t, fold2))
	}
	r = runTrainer(t, "cv", "-resume", out, "-threads", "1")
	if r.code != 0 {
		t.Fatalf("resume: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"fold 1/2 finished before; skipped", "fold 2/2: resuming", "resuming " + filepath.Join(fold2, trainer.CheckpointFile) + " at epoch"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("resume log lacks %q:\n%s", want, r.stderr)
		}
	}
	if rows := readCSV(t, filepath.Join(out, cv.CSVFile)); len(rows) != 2+3 {
		t.Errorf("cv.csv after the resume: %v", rows)
	}
}
