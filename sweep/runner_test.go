package sweep

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"gotrain/internal/lockfile"
	"gotrain/metrics"
	"gotrain/trainer"
)

// The runner's tests run this test binary as the trainer: with
// fakeTrainerEnv set, TestMain acts as a trainer that trains nothing. It
// appends its arguments to calls.txt in its run folder and then, by its
// -x flag: "fail" prints a trainer's error and exits 3; "hang" writes a
// checkpoint and waits for SIGINT, then exits 130 as the trainer does;
// a number writes metrics.json with two epochs whose last test accuracy
// is 10 times it. A resumed run (-resume=DIR) finishes as a number's.
const fakeTrainerEnv = "SWEEP_FAKE_TRAINER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeTrainerEnv) != "" {
		os.Exit(fakeTrainer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeTrainer(args []string) int {
	flags := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		flags[k] = v
	}
	dir := flags["out"]
	if dir == "" {
		dir = flags["resume"]
	}
	f, err := os.OpenFile(filepath.Join(dir, "calls.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trainer:", err)
		return 1
	}
	fmt.Fprintln(f, strings.Join(args, " "))
	f.Close()
	x := flags["x"]
	if flags["resume"] != "" {
		x = "4"
	}
	switch x {
	case "fail":
		fmt.Println("Epoch: 1")
		fmt.Fprintln(os.Stderr, "trainer: x | is bad")
		return 3
	case "hang":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		os.WriteFile(filepath.Join(dir, trainer.CheckpointFile), []byte("checkpoint"), 0o644)
		<-sig
		return 130
	}
	v, err := strconv.ParseFloat(x, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "trainer: bad -x %q\n", x)
		return 2
	}
	hist := []metrics.Epoch{
		{Epoch: 1, TestAcc: 5 * v, TestLoss: 2, TrainLoss: 2.5, TrainAcc: 1, EpochSeconds: 1.5},
		{Epoch: 2, TestAcc: 10 * v, TestLoss: 1 / v, TrainLoss: 2, TrainAcc: 2, EpochSeconds: 2},
	}
	if err := metrics.WriteJSON(filepath.Join(dir, trainer.MetricsJSONFile), hist); err != nil {
		fmt.Fprintln(os.Stderr, "trainer:", err)
		return 1
	}
	return 0
}

// fakeRunner returns a Runner of the fake trainer over -x values, with
// the plan saved in a new folder.
func fakeRunner(t *testing.T, xs ...string) *Runner {
	t.Helper()
	t.Setenv(fakeTrainerEnv, "1")
	dir := t.TempDir()
	p, err := NewPlan(Space{Params: []Param{{"x", xs}}}, []string{"-shared=1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &p); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	return &Runner{Dir: dir, Plan: p, Program: os.Args[0], MachineArgs: []string{"-threads=1"}, Parallel: 2, Log: log}
}

// calls returns the argument lists the fake trainer was started with in
// the trial's folder.
func calls(t *testing.T, r *Runner, i int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Dir, r.Plan.Trials[i].Name, "calls.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestRunnerRecordsFailuresAndSkipsEnded(t *testing.T) {
	r := fakeRunner(t, "1", "fail", "3", "2")
	out, err := r.Run(context.Background(), nil)
	if err != nil || out != (Outcome{Done: 3, Failed: 1}) {
		t.Fatalf("Run = %+v, %v; want 3 done and 1 failed", out, err)
	}
	dir0 := filepath.Join(r.Dir, "x=1")
	if c := calls(t, r, 0); !reflect.DeepEqual(c, []string{"-shared=1 -x=1 -out=" + dir0 + " -threads=1"}) {
		t.Errorf("trial 0 started as %q", c)
	}
	rec, err := ReadRecord(filepath.Join(r.Dir, "x=fail"))
	if err != nil || rec.Status != Failed || rec.ExitCode != 3 || rec.Error != "x | is bad" || rec.Starts != 1 {
		t.Errorf("failed trial's record %+v, %v", rec, err)
	}
	if log, err := os.ReadFile(filepath.Join(r.Dir, "x=fail", LogFile)); err != nil || !strings.Contains(string(log), "Epoch: 1\n") {
		t.Errorf("trial log %q, %v: lacks the trial's output", log, err)
	}

	// A second run starts nothing; with RetryFailed, only the failed trial.
	out, err = r.Run(context.Background(), nil)
	if err != nil || out != (Outcome{Skipped: 4}) {
		t.Errorf("second Run = %+v, %v; want 4 skipped", out, err)
	}
	r.RetryFailed = true
	out, err = r.Run(context.Background(), nil)
	if err != nil || out != (Outcome{Failed: 1, Skipped: 3}) {
		t.Errorf("Run with RetryFailed = %+v, %v; want the failed one run again", out, err)
	}
	for i, want := range []int{1, 2, 1, 1} {
		if n := len(calls(t, r, i)); n != want {
			t.Errorf("trial %d started %d times, want %d", i, n, want)
		}
	}
	if rec, _ := ReadRecord(filepath.Join(r.Dir, "x=fail")); rec.Starts != 2 {
		t.Errorf("retried trial's record counts %d starts, want 2", rec.Starts)
	}
	if _, err := r.Run(context.Background(), []int{4}); err == nil {
		t.Error("Run of trial 4 of 4: no error")
	}

	tab, err := Collect(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, tab)
}

// checkTable checks the table of the sweep over x = 1, fail, 3, 2 against
// the fake trainer's metrics, and its files.
func checkTable(t *testing.T, tab *Table) {
	t.Helper()
	if err := tab.Write(); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range tab.Sorted() {
		order = append(order, r.Value("x"))
	}
	if !reflect.DeepEqual(order, []string{"3", "2", "1", "fail"}) {
		t.Errorf("sorted by test accuracy: %v", order)
	}
	f, err := os.Open(filepath.Join(tab.Dir, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"trial", "name", "x", "status", "epochs", "test_acc", "best_test_acc", "test_loss", "train_acc", "train_loss", "seconds", "exit_code", "error"},
		{"0", "x=1", "1", "done", "2", "10", "10", "1", "2", "2", "3.5", "", ""},
		{"1", "x=fail", "fail", "failed", "0", "", "", "", "", "", "0", "3", "x | is bad"},
		{"2", "x=3", "3", "done", "2", "30", "30", strconv.FormatFloat(1.0/3, 'g', -1, 64), "2", "2", "3.5", "", ""},
		{"3", "x=2", "2", "done", "2", "20", "20", "0.5", "2", "2", "3.5", "", ""},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("%s:\n%q\nwant\n%q", CSVFile, rows, want)
	}
	var js struct {
		Params []string
		Trials []struct {
			Name   string
			Status Status
			Final  *metrics.Epoch
		}
	}
	b, err := os.ReadFile(filepath.Join(tab.Dir, JSONFile))
	if err == nil {
		err = json.Unmarshal(b, &js)
	}
	if err != nil || len(js.Trials) != 4 || js.Trials[2].Final == nil || js.Trials[2].Final.TestAcc != 30 || js.Trials[1].Final != nil {
		t.Errorf("%s: %+v, %v", JSONFile, js, err)
	}
	md, err := os.ReadFile(filepath.Join(tab.Dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"4 trials: 3 done, 1 failed.", "| 2 | 3 | done | 2 | 30.00% | 30.00% |", `| 1 | fail | failed (exit 3): x \| is bad | 0 |`} {
		if !strings.Contains(string(md), w) {
			t.Errorf("%s lacks %q:\n%s", MarkdownFile, w, md)
		}
	}
	if st, err := os.Stat(filepath.Join(tab.Dir, PlotPrefix+"x.png")); err != nil || st.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
}

func TestRunnerInterruptResumes(t *testing.T) {
	r := fakeRunner(t, "hang", "1")
	r.Parallel = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hung := filepath.Join(r.Dir, "x=hang")
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(hung, trainer.CheckpointFile)); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	out, err := r.Run(ctx, nil)
	if !errors.Is(err, ErrInterrupted) || out != (Outcome{Interrupted: 1}) {
		t.Fatalf("interrupted Run = %+v, %v; want ErrInterrupted with 1 interrupted", out, err)
	}
	if rec, err := ReadRecord(hung); err != nil || rec.Status != Interrupted || rec.ExitCode != 130 {
		t.Errorf("interrupted trial's record %+v, %v", rec, err)
	}
	if c := calls(t, r, 1); c != nil {
		t.Errorf("trial 1 started after the interruption: %q", c)
	}
	out, err = r.Run(context.Background(), nil)
	if err != nil || out != (Outcome{Done: 2}) {
		t.Fatalf("continued Run = %+v, %v", out, err)
	}
	if c := calls(t, r, 0); len(c) != 2 || c[1] != "-resume="+hung+" -threads=1" {
		t.Errorf("interrupted trial's starts %q, want a resume second", c)
	}
	tab, err := Collect(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows[0].Status != Done || tab.Rows[0].Final.TestAcc != 40 || tab.Rows[0].Starts != 2 {
		t.Errorf("resumed trial's row %+v", tab.Rows[0])
	}
}

func TestRunnerLeavesHeldTrials(t *testing.T) {
	r := fakeRunner(t, "1", "2")
	dir := filepath.Join(r.Dir, "x=2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open files: this one conflicts as another
	// worker's would.
	l, err := lockfile.Acquire(filepath.Join(dir, ClaimFile))
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(context.Background(), nil)
	l.Release()
	if err != nil || out != (Outcome{Done: 1, Held: 1}) {
		t.Fatalf("Run = %+v, %v; want 1 done and 1 held", out, err)
	}
	if c := calls(t, r, 1); c != nil {
		t.Errorf("the held trial was started: %q", c)
	}
	tab, err := Collect(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows[1].Status != Pending || tab.Count(Done) != 1 {
		t.Errorf("table %+v", tab.Rows)
	}
}

func TestRunnerKilledTrialFails(t *testing.T) {
	// A trial killed by SIGKILL (the kernel's OOM killer) is a failure
	// with exit code 137, as a shell reports it.
	r := fakeRunner(t, "1")
	r.Program = "/bin/sh"
	r.Plan.Args = []string{"-c", "kill -9 $$"}
	r.Plan.Trials[0].Settings = nil
	out, err := r.Run(context.Background(), nil)
	if err != nil || out != (Outcome{Failed: 1}) {
		t.Fatalf("Run = %+v, %v", out, err)
	}
	rec, _ := ReadRecord(filepath.Join(r.Dir, "x=1"))
	if rec.ExitCode != 128+int(syscall.SIGKILL) || rec.Error == "" {
		t.Errorf("record %+v", rec)
	}
}
