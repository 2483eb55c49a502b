package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotrain/metrics"
	"gotrain/trainer"
)

// The tests here stop, kill and misdirect the trainer and check what it
// leaves behind and how it exits.

// tinyRun is a training run of a few seconds: 3 epochs of 4 batches.
func tinyRun(out string, extra ...string) []string {
	args := []string{"-model", "seed", "-epochs", "3", "-batch-size", "64", "-train-limit", "256",
		"-test-limit", "100", "-seed", "5", "-threads", "1", "-workers", "2", "-data", archive, "-out", out}
	return append(args, extra...)
}

// lockedBuffer is a bytes.Buffer that a running command writes into while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// background is a trainer started without waiting for it.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	res            result
}

// startTrainer starts the trainer with args in dir.
func startTrainer(t *testing.T, dir string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.cmd.Wait()
		// ExitCode is -1 for a process killed by a signal.
		b.res = result{code: b.cmd.ProcessState.ExitCode(), stdout: b.stdout.String(), stderr: b.stderr.String()}
		close(b.done)
	}()
	t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
	return b
}

// waitFor waits until the trainer's stdout or stderr holds s, failing the
// test if it ends or takes a minute first.
func (b *background) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !strings.Contains(b.stdout.String(), s) && !strings.Contains(b.stderr.String(), s) {
		select {
		case <-b.done:
			t.Fatalf("trainer ended (exit %d) before printing %q\nstdout:\n%s\nstderr:\n%s", b.res.code, s, b.res.stdout, b.res.stderr)
		case <-deadline:
			t.Fatalf("trainer did not print %q within a minute\nstderr:\n%s", s, b.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait waits for the trainer to end, at most limit.
func (b *background) wait(t *testing.T, limit time.Duration) result {
	t.Helper()
	select {
	case <-b.done:
		return b.res
	case <-time.After(limit):
		b.cmd.Process.Kill()
		<-b.done
		t.Fatalf("trainer still running after %v\nstderr:\n%s", limit, b.res.stderr)
		return result{}
	}
}

func (b *background) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// assertClean fails the test if dir holds hidden files: temporary files or
// the lock of a run still holding it.
func assertClean(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left in %s", e.Name(), dir)
		}
	}
}

// TestResumeRewritesEpochFiles puts an output folder in the state that a
// kill -9 just after the last epoch's checkpoint leaves (metrics and plots
// of an earlier epoch, CSV and JSON disagreeing, no final weights) and
// checks that -resume rewrites every per-epoch file from the checkpoint, to
// the bytes an uninterrupted run wrote.
func TestResumeRewritesEpochFiles(t *testing.T) {
	needArchive(t)
	full := t.TempDir()
	if r := runTrainer(t, tinyRun(full, "-epochs", "2")...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}
	cut := t.TempDir()
	for _, f := range []string{trainer.CheckpointFile, trainer.BestFile} {
		copyFile(t, filepath.Join(full, f), filepath.Join(cut, f))
	}
	hist, err := metrics.ReadJSON(filepath.Join(full, trainer.MetricsJSONFile))
	if err != nil || len(hist) != 2 {
		t.Fatalf("metrics of the full run: %v, %v", hist, err)
	}
	if err := metrics.WriteCSV(filepath.Join(cut, trainer.MetricsCSVFile), hist[:1]); err != nil {
		t.Fatal(err)
	}
	stale := hist[:1]
	stale[0].TestAcc = -1
	if err := metrics.WriteJSON(filepath.Join(cut, trainer.MetricsJSONFile), stale); err != nil {
		t.Fatal(err)
	}
	plots := []string{trainer.LossPlotFile, trainer.AccuracyPlotFile, trainer.LRPlotFile, trainer.ConfusionFile}
	for _, f := range plots[:3] {
		os.WriteFile(filepath.Join(cut, f), []byte("an earlier epoch's plot"), 0o644)
	}
	r := runTrainer(t, "-resume", cut)
	if r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	for _, f := range append(plots, trainer.MetricsCSVFile, trainer.MetricsJSONFile, trainer.StateDictFile) {
		a, _ := os.ReadFile(filepath.Join(full, f))
		b, err := os.ReadFile(filepath.Join(cut, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s after -resume differs from the uninterrupted run's (%d and %d bytes, %v)", f, len(a), len(b), err)
		}
	}
	if !exists(filepath.Join(cut, trainer.TorchScriptFile)) {
		t.Errorf("resume did not export %s", trainer.TorchScriptFile)
	}
	assertClean(t, cut)
}

// TestInterruptDuringLastTestPass sends SIGINT while the last epoch's
// (long) test pass runs: the run finishes the pass, writes the epoch's
// checkpoint and files but not the final exports, and exits with 130; a
// second signal there exits at once, before the checkpoint. -resume then
// finishes the first run.
func TestInterruptDuringLastTestPass(t *testing.T) {
	needArchive(t)
	args := func(out string) []string {
		return tinyRun(out, "-epochs", "1", "-train-limit", "128", "-test-limit", "10000")
	}
	once, twice := t.TempDir(), t.TempDir()
	b := startTrainer(t, workDir, args(once)...)
	b.waitFor(t, "100%|") // training of the epoch done; its test pass runs
	b.signal(t, syscall.SIGINT)
	r := b.wait(t, time.Minute)
	if r.code != 130 || !strings.Contains(r.stderr, "interrupted after epoch 1") {
		t.Fatalf("exit %d (want 130), stderr:\n%s", r.code, r.stderr)
	}
	if !exists(filepath.Join(once, trainer.CheckpointFile)) || exists(filepath.Join(once, trainer.StateDictFile)) {
		t.Errorf("want the epoch's checkpoint and no final weights: %v", names(t, once))
	}
	if h, err := metrics.ReadJSON(filepath.Join(once, trainer.MetricsJSONFile)); err != nil || len(h) != 1 {
		t.Errorf("metrics: %v, %v", h, err)
	}

	b = startTrainer(t, workDir, args(twice)...)
	b.waitFor(t, "100%|")
	b.signal(t, syscall.SIGINT)
	b.waitFor(t, "signal again to exit at once")
	b.signal(t, syscall.SIGINT)
	r = b.wait(t, time.Minute)
	if r.code != 130 || !strings.Contains(r.stderr, "exiting at once") {
		t.Errorf("second SIGINT: exit %d (want 130), stderr:\n%s", r.code, r.stderr)
	}
	if exists(filepath.Join(twice, trainer.CheckpointFile)) {
		t.Error("the run went on to write its checkpoint after the second SIGINT")
	}

	if r := runTrainer(t, "-resume", once); r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	if !exists(filepath.Join(once, trainer.StateDictFile)) || !exists(filepath.Join(once, trainer.TorchScriptFile)) {
		t.Errorf("resumed run did not export: %v", names(t, once))
	}
	assertClean(t, once)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// TestStopSignals checks SIGTERM and SIGHUP: like Ctrl-C they stop the run
// with a checkpoint, and the exit status is 128 plus the signal's number.
func TestStopSignals(t *testing.T) {
	needArchive(t)
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGHUP, 129}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			if signal.Ignored(c.sig) {
				// Started under nohup, the test would pass SIGHUP on
				// ignored, and the trainer keeps ignored signals ignored.
				// A signal this process handles is reset for the child.
				ch := make(chan os.Signal, 1)
				signal.Notify(ch, c.sig)
				defer signal.Stop(ch)
			}
			out := t.TempDir()
			b := startTrainer(t, workDir, tinyRun(out)...)
			b.waitFor(t, "Epoch: 2")
			b.signal(t, c.sig)
			r := b.wait(t, time.Minute)
			if r.code != c.code || !strings.Contains(r.stderr, "interrupted a") {
				t.Fatalf("exit %d (want %d), stderr:\n%s", r.code, c.code, r.stderr)
			}
			if !exists(filepath.Join(out, trainer.CheckpointFile)) {
				t.Error("no checkpoint")
			}
		})
	}
}

// TestInterruptWhileDecoding sends SIGINT while the archive is decoded
// (no cache in a fresh working folder): the trainer exits with 130 at
// once rather than after the decoding, and removes the -out folder it
// made, as with any failure before the run writes a file.
func TestInterruptWhileDecoding(t *testing.T) {
	needArchive(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "runs", "a")
	b := startTrainer(t, dir, tinyRun(out)...)
	b.waitFor(t, "dataset: reading")
	b.signal(t, syscall.SIGINT)
	start := time.Now()
	r := b.wait(t, time.Minute)
	if r.code != 130 || !strings.Contains(r.stderr, "reading the data set") {
		t.Errorf("exit %d (want 130), stderr:\n%s", r.code, r.stderr)
	}
	// Decoding the archive takes 15 s and more on two cores.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to exit after SIGINT", d)
	}
	if exists(filepath.Join(dir, "runs")) {
		t.Errorf("the interrupted run left %s: %v", filepath.Join(dir, "runs"), names(t, filepath.Join(dir, "runs")))
	}
}

// TestOutputFolderInUse starts two trainers on one -out: the second is
// refused at once, naming the first's process.
func TestOutputFolderInUse(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	a := startTrainer(t, workDir, tinyRun(out, "-epochs", "1", "-test-limit", "10000")...)
	a.waitFor(t, "Epoch: 1")
	r := runTrainer(t, tinyRun(out)...)
	want := fmt.Sprintf("output folder in use by another trainer: %s (process %d)", out, a.cmd.Process.Pid)
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Contains(r.stdout, "Epoch: 1") {
		t.Errorf("second trainer: exit %d (want 1), stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	if r := runTrainer(t, "-resume", out); r.code != 1 || !strings.Contains(r.stderr, "in use by another trainer") {
		t.Errorf("-resume of the running run: exit %d (want 1), stderr:\n%s", r.code, r.stderr)
	}
	a.cmd.Process.Kill()
}

// TestExistingRunRefused reruns a finished run's command without -resume:
// it is refused with the way to resume, the checkpoint untouched; with
// -overwrite a new run replaces it. A lock file and a 0-byte temporary file
// left by a killed run get in the way of neither and are removed.
func TestExistingRunRefused(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	if r := runTrainer(t, tinyRun(out, "-epochs", "1")...); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	ckpt := filepath.Join(out, trainer.CheckpointFile)
	before, _ := os.ReadFile(ckpt)
	leftovers := []string{trainer.LockFile, ".checkpoint.pt.tmp-2671"}
	os.WriteFile(filepath.Join(out, leftovers[0]), []byte("99999\n"), 0o644)
	os.WriteFile(filepath.Join(out, leftovers[1]), nil, 0o644)
	r := runTrainer(t, tinyRun(out, "-epochs", "2")...)
	want := fmt.Sprintf("output folder %s holds the checkpoint of another run (1 of 1 epochs done): continue that run with -resume %s, or pass -overwrite", out, out)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d (want 1), stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	if after, _ := os.ReadFile(ckpt); !bytes.Equal(before, after) {
		t.Error("the refused run changed the checkpoint")
	}
	assertClean(t, out)

	os.WriteFile(filepath.Join(out, leftovers[1]), nil, 0o644)
	if r := runTrainer(t, tinyRun(out, "-epochs", "2", "-overwrite")...); r.code != 0 {
		t.Fatalf("-overwrite: exit %d: %s", r.code, r.stderr)
	}
	if h, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile)); err != nil || len(h) != 2 {
		t.Errorf("metrics after -overwrite: %v, %v", h, err)
	}
	assertClean(t, out)
}

// TestUnusableOutputFolder checks that a read-only -out is refused before
// the data is read, and that runs failing early leave no -out folder
// behind.
func TestUnusableOutputFolder(t *testing.T) {
	needArchive(t)
	ro := t.TempDir()
	if os.Geteuid() == 0 {
		// Root writes through permission bits: mount a read-only tmpfs.
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro).CombinedOutput(); err != nil {
			t.Skipf("skipping: cannot mount a read-only tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", ro).Run() })
	} else if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	r := runTrainer(t, tinyRun(ro)...)
	if r.code != 1 || !strings.Contains(r.stderr, "output folder "+ro+" is not writable") || strings.Contains(r.stderr, "dataset:") {
		t.Errorf("read-only -out: exit %d (want 1 before the data is read), stderr:\n%s", r.code, r.stderr)
	}

	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"missing data", []string{"-data", "/nonexistent/cifar"}},
		{"bad init weights", []string{"-init-from", "/nonexistent/w.pt"}},
	} {
		out := filepath.Join(dir, "new", "run")
		r := runTrainer(t, append(tinyRun(out), c.args...)...)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1: %s", c.name, r.code, r.stderr)
		}
		if exists(filepath.Join(dir, "new")) {
			t.Errorf("%s: the failed run left %s", c.name, filepath.Join(dir, "new"))
		}
	}
}

// TestKilledAtRandom kills a tiny run with SIGKILL at random moments (a
// fixed seed), resuming after each kill (or starting again where there is
// no checkpoint yet), and checks that the final weights, metrics and plots
// are those of an uninterrupted run. Every third kill lands within 150 ms
// of a checkpoint being written, while the epoch's other files are.
func TestKilledAtRandom(t *testing.T) {
	needArchive(t)
	ref := t.TempDir()
	start := time.Now()
	r := runTrainer(t, tinyRun(ref)...)
	if r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "dataset: reading") { // it decoded the archive: time a run from the cache
		ref = t.TempDir()
		start = time.Now()
		if r := runTrainer(t, tinyRun(ref)...); r.code != 0 {
			t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
		}
	}
	span := time.Since(start)
	t.Logf("an uninterrupted run takes %v", span)

	out := t.TempDir()
	ckpt := filepath.Join(out, trainer.CheckpointFile)
	rng := rand.New(rand.NewPCG(13, 1))
	const kills = 10
	for i := 0; ; i++ {
		args := tinyRun(out)
		if exists(ckpt) {
			args = []string{"-resume", out}
		}
		b := startTrainer(t, workDir, args...)
		if i == kills { // the last one runs to the end
			if r := b.wait(t, 2*time.Minute); r.code != 0 {
				t.Fatalf("final run: exit %d: %s", r.code, r.stderr)
			}
			break
		}
		var when string
		kill := time.After(time.Duration(rng.Int64N(int64(span / 2))))
		if i%3 == 2 {
			kill = afterCheckpoint(ckpt, time.Duration(rng.Int64N(int64(150*time.Millisecond))), b.done)
			when = " after a checkpoint"
		}
		select {
		case <-b.done:
			if b.res.code != 0 {
				t.Fatalf("run %d (%v): exit %d: %s", i, args[:2], b.res.code, b.res.stderr)
			}
			t.Logf("run %d (%v) finished", i, args[:2])
		case <-kill:
			b.cmd.Process.Kill()
			<-b.done
			t.Logf("run %d (%v) killed%s; folder holds %v", i, args[:2], when, names(t, out))
			continue
		}
		break
	}

	for _, f := range []string{trainer.StateDictFile, trainer.BestFile, trainer.LossPlotFile, trainer.AccuracyPlotFile,
		trainer.LRPlotFile, trainer.ConfusionFile} {
		a, _ := os.ReadFile(filepath.Join(ref, f))
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the uninterrupted run's (%d and %d bytes, %v)", f, len(a), len(b), err)
		}
	}
	if !exists(filepath.Join(out, trainer.TorchScriptFile)) {
		t.Errorf("no %s", trainer.TorchScriptFile)
	}
	// The metrics agree but for the seconds taken.
	want, err := metrics.ReadJSON(filepath.Join(ref, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	gotCSV, err := metrics.ReadCSV(filepath.Join(out, trainer.MetricsCSVFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(gotCSV) != len(want) {
		t.Fatalf("%d epochs in metrics.json, %d in metrics.csv; want %d", len(got), len(gotCSV), len(want))
	}
	for i := range want {
		if untimed(got[i]) != untimed(want[i]) {
			t.Errorf("metrics.json epoch %d: %+v, want %+v", i+1, got[i], want[i])
		}
		if gotCSV[i] != got[i] {
			t.Errorf("epoch %d: metrics.csv %+v, metrics.json %+v", i+1, gotCSV[i], got[i])
		}
	}
	assertClean(t, out)
}

// afterCheckpoint returns a channel that receives delay after the file
// ckpt is next replaced, or never if stop is closed first.
func afterCheckpoint(ckpt string, delay time.Duration, stop <-chan struct{}) <-chan time.Time {
	ch := make(chan time.Time, 1)
	before, _ := os.Stat(ckpt)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if st, err := os.Stat(ckpt); err == nil && (before == nil || !os.SameFile(st, before)) {
				time.Sleep(delay)
				ch <- time.Now()
				return
			}
		}
	}()
	return ch
}

// untimed returns m without its timings, which differ from run to run.
func untimed(m metrics.Epoch) metrics.Epoch {
	m.TrainSeconds, m.TestSeconds, m.EpochSeconds, m.ImagesPerSec = 0, 0, 0, 0
	return m
}
