package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotrain/infer"
	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
	"gotrain/metrics"
	"gotrain/torch"
	"gotrain/trainer"
)

// The end-to-end tests run the real binary on a small slice of the shared
// CIFAR-10 archive.

var (
	binary  string // the trainer built for the tests
	workDir string // working folder of every run: its data/ cache is shared
	archive string // the shared data set
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "trainer-e2e-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		workDir = dir
		binary = filepath.Join(dir, "trainer")
		if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			panic(err)
		}
		archive, _ = filepath.Abs("../../../shared/datasets/cifar10-jpeg.tar.gz")
		return m.Run()
	}()
	os.Exit(code)
}

// needArchive skips t where the shared CIFAR-10 archive is missing, and
// fails it under CI (testenv.Need).
func needArchive(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(archive); err != nil {
		testenv.Need(t, fmt.Sprintf("the shared data set: %v", err))
	}
}

// result is a finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func runTrainer(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = workDir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// smallRun is a quick training configuration on the shared archive.
func smallRun(out string, extra ...string) []string {
	args := []string{"-model", "seed", "-epochs", "2", "-batch-size", "64", "-train-limit", "640",
		"-test-limit", "200", "-seed", "5", "-threads", "1", "-workers", "2", "-data", archive, "-out", out}
	return append(args, extra...)
}

func TestTrainWritesEverything(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	r := runTrainer(t, smallRun(out)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Total Parameters: 82,474", "NHWC (channels-last) input", "Epoch: 1", "Epoch: 2", "Test set: Average loss: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "Test set: Average loss:"); n != 2 {
		t.Errorf("%d test reports, want 2", n)
	}
	for _, f := range []string{trainer.CheckpointFile, trainer.BestFile, trainer.StateDictFile, trainer.TorchScriptFile,
		trainer.MetricsCSVFile, trainer.MetricsJSONFile, trainer.LossPlotFile, trainer.AccuracyPlotFile,
		trainer.LRPlotFile, trainer.ConfusionFile} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("output %s missing or empty: %v", f, err)
		} else if st.Mode().Perm()&0o044 != 0o044 {
			t.Errorf("output %s has mode %v: others cannot read it", f, st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	hist, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].Epoch != 2 {
		t.Fatalf("metrics: %+v", hist)
	}
	if hist[1].TrainLoss >= hist[0].TrainLoss {
		t.Errorf("training loss did not fall: %v -> %v", hist[0].TrainLoss, hist[1].TrainLoss)
	}

	t.Run("PythonLoadsExports", func(t *testing.T) {
		pyref.Require(t, "torch")
		cmd := exec.Command(pyref.Python, "testdata/check_exports.py", "seed",
			filepath.Join(out, trainer.StateDictFile), filepath.Join(out, trainer.TorchScriptFile))
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Type    string
			Keys    []string
			MaxDiff float64 `json:"max_diff"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Type != "OrderedDict" || len(got.Keys) != 66 || got.Keys[0] != "c1.0.weight" || got.Keys[4] != "c1.1.running_mean" {
			t.Errorf("state dict as Python sees it: %s, %d keys %v", got.Type, len(got.Keys), got.Keys[:5])
		}
		if got.MaxDiff > 1e-5 {
			t.Errorf("TorchScript and state_dict outputs differ by %g", got.MaxDiff)
		}
	})

	t.Run("Evaluate", func(t *testing.T) {
		r := runTrainer(t, "evaluate", "-weights", filepath.Join(out, trainer.CheckpointFile), "-data", archive, "-test-limit", "200", "-json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var ev struct {
			Correct, Total int
			Accuracy       float64
			Confusion      [][]int
		}
		if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, row := range ev.Confusion {
			for _, v := range row {
				sum += v
			}
		}
		if ev.Total != 200 || sum != 200 {
			t.Errorf("evaluated %d images, confusion holds %d; want 200", ev.Total, sum)
		}
		// The checkpoint holds the last epoch's weights: its accuracy is
		// the one the run reported.
		if want := hist[1].TestAcc; abs(ev.Accuracy-want) > 1e-9 {
			t.Errorf("accuracy %v, the run reported %v", ev.Accuracy, want)
		}
	})

	t.Run("Predict", func(t *testing.T) {
		img := writeTestPNG(t)
		r := runTrainer(t, "predict", "-weights", filepath.Join(out, trainer.TorchScriptFile), "-model", "seed", "-top-k", "2", img)
		if r.code != 0 || !strings.HasPrefix(r.stdout, img+": ") || strings.Count(r.stdout, "%") != 2 {
			t.Errorf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("Export", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "sub", "w.pt")
		r := runTrainer(t, "export", "-weights", filepath.Join(out, trainer.CheckpointFile), "-format", "state_dict", "-o", dst)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		a := readTensors(t, dst)
		b := readTensors(t, filepath.Join(out, trainer.StateDictFile))
		if !equalTensors(a, b) {
			t.Error("exported state_dict differs from the run's final weights")
		}
	})
}

// TestAutocastTraining trains with -autocast: the header says so, the
// numbers differ from the same run in float32 (bfloat16 arithmetic was
// used), the loss still falls, and the saved weights are float32.
func TestAutocastTraining(t *testing.T) {
	needArchive(t)
	plain, cast := t.TempDir(), t.TempDir()
	for _, c := range []struct {
		out  string
		args []string
	}{{plain, nil}, {cast, []string{"-autocast"}}} {
		r := runTrainer(t, smallRun(c.out, c.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", c.args, r.code, r.stdout, r.stderr)
		}
		if got := strings.Contains(r.stdout, "bfloat16 autocast"); got != (c.args != nil) {
			t.Errorf("%v: header mentions autocast: %v\n%s", c.args, got, r.stdout)
		}
	}
	hp, err := metrics.ReadJSON(filepath.Join(plain, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := metrics.ReadJSON(filepath.Join(cast, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if hc[0].TrainLoss == hp[0].TrainLoss {
		t.Errorf("autocast run has the float32 run's training loss %v", hc[0].TrainLoss)
	}
	if hc[1].TrainLoss >= hc[0].TrainLoss {
		t.Errorf("autocast: training loss did not fall: %v -> %v", hc[0].TrainLoss, hc[1].TrainLoss)
	}
	ws, err := infer.ReadWeights(filepath.Join(cast, trainer.StateDictFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if dt := w.Tensor.DType(); dt != torch.Float32 && !strings.HasSuffix(w.Name, "num_batches_tracked") {
			t.Errorf("%s saved as %v", w.Name, dt)
		}
		w.Tensor.Free()
	}
}

// TestResumeMatchesUninterrupted stops a run with SIGINT during its second
// epoch, resumes it, and checks that the final weights equal those of an
// uninterrupted run with the same seed, bit for bit.
func TestResumeMatchesUninterrupted(t *testing.T) {
	needArchive(t)
	full := t.TempDir()
	if r := runTrainer(t, smallRun(full)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}

	cut := t.TempDir()
	stderr := interruptInEpoch2(t, cut, smallRun(cut)...)
	if !stoppedEarly(stderr) {
		t.Skip("the run finished before the interrupt; nothing to resume")
	}
	for _, f := range []string{trainer.StateDictFile, trainer.TorchScriptFile} {
		if _, err := os.Stat(filepath.Join(cut, f)); err == nil {
			t.Fatalf("interrupted run wrote its final %s", f)
		}
	}
	r := runTrainer(t, "-resume", cut)
	if r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	a := readTensors(t, filepath.Join(full, trainer.StateDictFile))
	b := readTensors(t, filepath.Join(cut, trainer.StateDictFile))
	if !equalTensors(a, b) {
		t.Error("resumed run's final weights differ from the uninterrupted run's")
	}
	ha, _ := metrics.ReadJSON(filepath.Join(full, trainer.MetricsJSONFile))
	hb, _ := metrics.ReadJSON(filepath.Join(cut, trainer.MetricsJSONFile))
	if len(ha) != 2 || len(hb) != 2 || ha[1].TestAcc != hb[1].TestAcc || abs(ha[1].TrainLoss-hb[1].TrainLoss) > 1e-9 {
		t.Errorf("metrics differ:\n%+v\n%+v", ha, hb)
	}
}

func TestBadInput(t *testing.T) {
	needArchive(t)
	garbage := filepath.Join(t.TempDir(), "cifar.tar.gz")
	os.WriteFile(garbage, []byte("this is not an archive"), 0o644)
	seedOut := t.TempDir()
	if r := runTrainer(t, "-model", "seed", "-epochs", "1", "-train-limit", "64", "-test-limit", "50", "-data", archive, "-out", seedOut); r.code != 0 {
		t.Fatalf("setup run: %s", r.stderr)
	}
	ckpt := filepath.Join(seedOut, trainer.CheckpointFile)
	bomb, _ := filepath.Abs("testdata/bomb-100000x100000.png")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-epoch", "3"}, 2, "flag provided but not defined: -epoch"},
		{"zero epochs", []string{"-epochs", "0"}, 2, "epochs must be at least 1"},
		{"negative lr", []string{"-lr", "-1"}, 2, "learning rate must be positive"},
		{"bad dropout", []string{"-dropout", "1.5"}, 2, "dropout must be in [0, 1)"},
		{"NaN weight decay", []string{"-weight-decay", "NaN"}, 2, "weight decay must be finite and not negative, got NaN"},
		{"NaN label smoothing", []string{"-label-smoothing", "NaN"}, 2, "label smoothing must be in [0, 1], got NaN"},
		{"infinite lr", []string{"-lr", "+Inf"}, 2, "learning rate must be positive and finite, got +Inf"},
		{"resume with a training flag", []string{"-resume", ckpt, "-epochs", "5"}, 2, "-epochs cannot be changed on -resume"},
		{"resume with no threads", []string{"-resume", ckpt, "-threads", "0"}, 2, "threads and workers must be at least 1"},
		// Checked before the data (here none) is read.
		{"too many epochs", []string{"-epochs", "99999999999", "-data", "/nonexistent/cifar"}, 2, "epochs must be at most 10000, got 99999999999"},
		{"more threads than CPUs", []string{"-threads", "100000", "-data", "/nonexistent/cifar"}, 2, "threads must be at most this machine's"},
		{"resume with more threads than CPUs", []string{"-resume", ckpt, "-threads", "100000"}, 2, "threads must be at most this machine's"},
		{"evaluate with more threads than CPUs", []string{"evaluate", "-weights", ckpt, "-threads", "100000"}, 2, "threads must be at most this machine's"},
		{"batch beyond the memory", []string{"-batch-size", "50000", "-train-limit", "50000", "-test-limit", "10", "-data", archive, "-out", t.TempDir()},
			1, "images needs about"},
		{"train limit below the classes", []string{"-train-limit", "5", "-data", "/nonexistent/cifar"}, 2, "image limits must be 0 (all) or at least the 10 classes"},
		{"sub-command's unknown flag", []string{"evaluate", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"sub-command's bad flag value", []string{"predict", "-top-k", "x"}, 2, `invalid value "x" for flag -top-k`},
		{"evaluate without weights", []string{"evaluate"}, 2, "evaluate: -weights is required"},
		{"export without output", []string{"export", "-weights", ckpt}, 2, "export: -o is required"},
		{"summary with an argument", []string{"summary", "seed"}, 2, `summary: unexpected argument "seed"`},
		{"unknown model", []string{"-model", "resnet"}, 2, `unknown model "resnet"`},
		{"bad log format", []string{"-log-format", "xml"}, 2, "bad -log-format"},
		{"missing data", []string{"-data", "/nonexistent/cifar", "-out", t.TempDir()}, 1, "/nonexistent/cifar"},
		{"corrupt data", []string{"-data", garbage, "-out", t.TempDir()}, 1, "cifar.tar.gz"},
		{"no cuda", []string{"-device", "cuda", "-data", archive, "-out", t.TempDir()}, 1, "CUDA is not available"},
		{"bad device", []string{"-device", "tpu", "-data", archive, "-out", t.TempDir()}, 2, `bad device "tpu"`},
		{"resume on a bad device", []string{"-resume", ckpt, "-device", "tpu"}, 2, `bad device "tpu"`},
		{"resume with -overwrite", []string{"-resume", ckpt, "-overwrite"}, 2, "-overwrite cannot be changed on -resume"},
		{"missing checkpoint", []string{"-resume", "/nonexistent/ckpt.pt"}, 1, "/nonexistent/ckpt.pt"},
		{"checkpoint of another model", []string{"evaluate", "-weights", ckpt, "-model", "sepnet"}, 1, `checkpoint of model "seed", not "sepnet"`},
		// Checked before the data (here none) is read.
		{"weights of another model", []string{"-model", "sepnet", "-init-from", filepath.Join(seedOut, trainer.StateDictFile), "-data", "/nonexistent/cifar", "-out", t.TempDir()}, 1, "c1.0.weight has shape [16 3 3 3] in the file, [32 3 3 3] in the model"},
		{"corrupt weights", []string{"evaluate", "-weights", garbage}, 1, "cifar.tar.gz"},
		{"evaluate with no threads", []string{"evaluate", "-weights", ckpt, "-threads", "0"}, 2, "threads must be at least 1, got 0"},
		{"export where no file can be made", []string{"export", "-weights", ckpt, "-format", "torchscript", "-o", "/proc/m.pt"}, 1, "write /proc/m.pt"},
		{"export under a file", []string{"export", "-weights", ckpt, "-format", "torchscript", "-o", filepath.Join(garbage, "m.pt")}, 1, filepath.Join(garbage, "m.pt")},
		{"predict without images", []string{"predict", "-weights", ckpt}, 2, "no image files"},
		{"predict missing image", []string{"predict", "-weights", ckpt, "/nonexistent.png"}, 1, "/nonexistent.png"},
		// 68 bytes that declare 100000x100000 pixels (once Go's "out of memory").
		{"predict a decompression bomb", []string{"predict", "-weights", ckpt, bomb}, 1,
			bomb + ": image has too many pixels (100000x100000 = 10000000000, more than 89478485); -max-pixels raises the limit"},
		{"predict under a lower pixel limit", []string{"predict", "-weights", ckpt, "-max-pixels", "959", writeTestPNG(t)}, 1, "(40x24 = 960, more than 959)"},
		{"predict with a negative pixel limit", []string{"predict", "-weights", ckpt, "-max-pixels", "-1", bomb}, 2, "-max-pixels must not be negative"},
		// -max-pixels 0 is no limit but the hard one (once Go's "out of memory", exit 2).
		{"predict a decompression bomb with no limit", []string{"predict", "-weights", ckpt, "-max-pixels", "0", bomb}, 1,
			bomb + ": image has too many pixels (100000x100000 = 10000000000, more than 1073741824, the most that is ever decoded)\n"},
		{"predict with a pixel limit over the hard one", []string{"predict", "-weights", ckpt, "-max-pixels", "1073741825", bomb}, 2, "-max-pixels must be at most 1073741824"},
		{"predict a folder", []string{"predict", "-weights", ckpt, seedOut}, 2, "predict: " + seedOut + " is a directory; give the image files (PNG or JPEG) themselves"},
		{"export onto a folder", []string{"export", "-weights", ckpt, "-o", seedOut}, 2, "export: -o " + seedOut + " is a directory"},
		{"export with a bad dropout", []string{"export", "-weights", ckpt, "-dropout", "1", "-o", filepath.Join(t.TempDir(), "m.pt")}, 2, "export: -dropout must be in [0, 1), got 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runTrainer(t, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s", r.code, c.code, c.want, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "SIGSEGV") {
				t.Errorf("crashed:\n%s", r.stderr)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	r := runTrainer(t, "summary", "-model", "seed")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"82,474", "19.87"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	r := runTrainer(t, "--help")
	for _, flag := range []string{"-epochs", "-lr", "-batch-size", "-momentum", "-weight-decay", "-dropout", "-model",
		"-data", "-out", "-seed", "-device", "-threads", "-workers", "-resume", "-init-from", "-overwrite", "-log-level", "-log-format",
		"evaluate", "predict", "summary", "export"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func readTensors(t *testing.T, path string) map[string][]byte {
	t.Helper()
	ts, err := torch.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, nt := range ts {
		b, err := nt.Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m[nt.Name] = b
		nt.Tensor.Free()
	}
	return m
}

func equalTensors(a, b map[string][]byte) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestDivergedRun trains with a learning rate that sends the loss to NaN
// at once: the run must warn, survive an interrupt (its checkpoint holds a
// NaN running loss), resume, and finish with every output written.
func TestDivergedRun(t *testing.T) {
	needArchive(t)
	out := t.TempDir()
	stderr := interruptInEpoch2(t, out, smallRun(out, "-lr", "1e6")...)
	if !strings.Contains(stderr, "the run has diverged") {
		t.Errorf("no divergence warning:\n%s", stderr)
	}
	if stoppedEarly(stderr) {
		r := runTrainer(t, "-resume", out)
		if r.code != 0 {
			t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
		}
	} else {
		t.Log("the run finished before the interrupt; nothing to resume")
	}
	for _, f := range []string{trainer.BestFile, trainer.StateDictFile, trainer.TorchScriptFile,
		trainer.LossPlotFile, trainer.AccuracyPlotFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output %s missing: %v", f, err)
		}
	}
	hist, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || !math.IsNaN(hist[1].TrainLoss) {
		t.Errorf("metrics of a diverged run: %+v", hist)
	}
}

// stoppedEarly reports whether the stderr of interruptInEpoch2 says that
// the run stopped with a checkpoint: in epoch 2, or after epoch 1 when the
// signal came while that epoch's files were written.
func stoppedEarly(stderr string) bool {
	return strings.Contains(stderr, "interrupted at epoch 2") || strings.Contains(stderr, "interrupted after epoch 1")
}

// interruptInEpoch2 runs the trainer with args, sends it SIGINT once the
// run in out has finished its first epoch (its last file exists, so the
// signal lands in epoch 2 unless the run is over by then), and returns what
// it wrote to stderr.
func interruptInEpoch2(t *testing.T, out string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = workDir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// The confusion matrix is the last of an epoch's files: a signal
		// before it would stop the run after epoch 1, not in epoch 2.
		if _, err := os.Stat(filepath.Join(out, trainer.ConfusionFile)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("first epoch did not finish in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkRestartSettings(t, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		// The run may have finished before the signal landed.
		t.Logf("interrupted run ended with %v; stderr:\n%s", err, errb.String())
	}
	return errb.String()
}

// checkRestartSettings checks that the running trainer pid restarted itself
// with the start-up settings of restartWithSettings (read from
// /proc/PID/environ, where the restarted process's environment is).
func checkRestartSettings(t *testing.T, pid int) {
	t.Helper()
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Logf("cannot read the trainer's environment: %v", err)
		return
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(string(env), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for name, want := range map[string]string{
		"GLIBC_TUNABLES": "glibc.malloc.arena_max=1", "GODEBUG": "asyncpreemptoff=1", "GOTRAIN_RESTARTED": "1",
	} {
		if !strings.Contains(vars[name], want) {
			t.Errorf("the running trainer's %s is %q, want it to hold %s", name, vars[name], want)
		}
	}
}
