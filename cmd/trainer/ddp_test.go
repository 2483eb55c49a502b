package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gotrain/dataset"
	"gotrain/internal/nntest"
	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
	"gotrain/metrics"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/distributed"
	"gotrain/torch/nn"
	"gotrain/trainer"
	"gotrain/transforms"
)

// The distributed tests start the ranks of a job themselves, as torchrun
// would (its environment variables, the store hosted by rank 0), or run
// Debian's torchrun; every run is bounded in time.

func needGloo(t *testing.T) {
	t.Helper()
	if !distributed.HasGloo() {
		testenv.Need(t, distributed.ErrUnavailable.Error())
	}
}

// rank is one trainer process of a job started by a test.
type rank struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	out, err strings.Builder
	done     chan struct{}
	code     int
}

func (r *rank) stdout() string { r.mu.Lock(); defer r.mu.Unlock(); return r.out.String() }
func (r *rank) stderr() string { r.mu.Lock(); defer r.mu.Unlock(); return r.err.String() }

// startJob starts world trainer processes with args as the ranks of one
// job on this machine, rank 0 hosting the store, plus extra environment
// variables (extra[r] for rank r, if given).
func startJob(t *testing.T, world int, args []string, extra ...[]string) []*rank {
	t.Helper()
	perRank := make([][]string, world)
	for i := range perRank {
		perRank[i] = args
	}
	return startRanks(t, perRank, extra...)
}

// startRanks is startJob with each rank's own arguments, args[r].
func startRanks(t *testing.T, args [][]string, extra ...[]string) []*rank {
	t.Helper()
	world := len(args)
	port := testenv.FreePort(t)
	ranks := make([]*rank, world)
	for i := range ranks {
		cmd := exec.Command(binary, args[i]...)
		cmd.Dir = workDir
		cmd.Env = append(os.Environ(),
			"RANK="+strconv.Itoa(i), "LOCAL_RANK="+strconv.Itoa(i),
			"WORLD_SIZE="+strconv.Itoa(world), "LOCAL_WORLD_SIZE="+strconv.Itoa(world),
			"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"TORCHELASTIC_USE_AGENT_STORE=False", "TORCHELASTIC_RESTART_COUNT=0", "OMP_NUM_THREADS=1")
		if i < len(extra) {
			cmd.Env = append(cmd.Env, extra[i]...)
		}
		r := &rank{cmd: cmd, done: make(chan struct{})}
		po, _ := cmd.StdoutPipe()
		pe, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, p := range []struct {
			sc *bufio.Scanner
			b  *strings.Builder
		}{{bufio.NewScanner(po), &r.out}, {bufio.NewScanner(pe), &r.err}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p.sc.Scan() {
					r.mu.Lock()
					p.b.WriteString(p.sc.Text() + "\n")
					r.mu.Unlock()
				}
			}()
		}
		go func() {
			wg.Wait()
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				r.code = ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					r.code = 128 + int(ws.Signal())
				}
			} else if err != nil {
				r.code = -1
			}
			close(r.done)
		}()
		t.Cleanup(func() { cmd.Process.Kill(); <-r.done })
		ranks[i] = r
	}
	return ranks
}

// wait waits up to d for the rank to end and returns its exit code.
func (r *rank) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(d):
		r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("rank did not end within %v\nstdout:\n%s\nstderr:\n%s", d, r.stdout(), r.stderr())
		return 0
	}
}

// runJob runs a job to its end (within two minutes) and fails the test
// unless every rank exits with 0.
func runJob(t *testing.T, world int, args []string, extra ...[]string) []*rank {
	t.Helper()
	ranks := startJob(t, world, args, extra...)
	for i, r := range ranks {
		if code := r.wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("rank %d: exit %d\nstdout:\n%s\nstderr:\n%s", i, code, r.stdout(), r.stderr())
		}
	}
	return ranks
}

// waitFile waits up to d for path to exist.
func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDDPMatchesPyTorch trains 2 ranks x 2 epochs x 4 steps with the
// trainer and with PyTorch's DistributedDataParallel (a Python script that
// starts its own two Gloo processes) from the same initial weights on the
// same images, and compares rank 0's final weights and buffers.
func TestDDPMatchesPyTorch(t *testing.T) {
	needArchive(t)
	needGloo(t)
	pyref.Require(t, "torch.distributed", "numpy")
	const (
		trainN, batch, epochs, seed = 64, 8, 2, 5
		lr, momentum, wd            = 0.05, 0.9, 5e-4
	)
	dir := t.TempDir()
	// The initial weights, for both.
	if err := torch.ManualSeed(11); err != nil {
		t.Fatal(err)
	}
	net, err := model.New("seed", model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(dir, "init.pt")
	if err := torch.Save(init, nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	initW := nn.StateDict(net)
	defer nn.Free(net)
	// The training images as the trainer sees them without augmentation,
	// in the data set's order, for PyTorch's TensorDataset.
	train, _, err := dataset.Load(archive, filepath.Join(workDir, "data"), dataset.WithLimits(trainN, 20))
	if err != nil {
		t.Fatal(err)
	}
	l, err := dataset.NewLoader(train, transforms.SeedTest(), dataset.LoaderConfig{BatchSize: trainN, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range l.Epoch(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		nntest.WriteLE(t, filepath.Join(dir, "x.f32"), b.X)
		nntest.WriteLE(t, filepath.Join(dir, "y.i64"), b.Y)
		b.Release()
	}
	l.Close()
	meta, _ := json.Marshal(map[string]any{"model": "seed", "n": trainN, "batch": batch, "epochs": epochs, "seed": seed,
		"lr": lr, "momentum": momentum, "weight_decay": wd})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "go")
	ranks := runJob(t, 2, []string{"-model", "seed", "-epochs", fmt.Sprint(epochs), "-batch-size", fmt.Sprint(batch),
		"-train-limit", fmt.Sprint(trainN), "-test-limit", "20", "-seed", fmt.Sprint(seed), "-augment=false", "-dropout", "0",
		"-lr", fmt.Sprint(lr), "-momentum", fmt.Sprint(momentum), "-weight-decay", fmt.Sprint(wd),
		"-channels-last=false", "-threads", "1", "-workers", "1", "-init-from", init, "-data", archive, "-out", out})
	if !strings.Contains(ranks[0].stdout(), "Distributed: world size 2 (2 on this machine), backend gloo; batch size 8 per rank, 16 per step") {
		t.Errorf("run header lacks the distributed line:\n%s", ranks[0].stdout())
	}
	if s := ranks[1].stdout() + ranks[1].stderr(); s != "" {
		t.Errorf("rank 1 printed something:\n%s", s)
	}

	cmd := exec.Command(pyref.Python, "testdata/ddp_reference.py", dir)
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ddp_reference.py: %v\n%s", err, b)
	}
	goW := readFloats(t, filepath.Join(out, trainer.StateDictFile))
	pyW := readFloats(t, filepath.Join(dir, "final_py.pt"))
	if len(goW) != len(pyW) || len(goW) != len(initW) {
		t.Fatalf("%d tensors from the trainer, %d from PyTorch", len(goW), len(pyW))
	}
	worst, moved := 0.0, 0.0
	for i, nt := range initW {
		a, b := goW[nt.Name], pyW[nt.Name]
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("%s: %d values from the trainer, %d from PyTorch", nt.Name, len(a), len(b))
		}
		w0 := nntest.Float64s(t, initW[i].Tensor)
		for j := range a {
			d := math.Abs(a[j]-b[j]) / math.Max(1, math.Abs(b[j]))
			worst = max(worst, d)
			moved = max(moved, math.Abs(b[j]-w0[j]))
			if d > 1e-4 {
				t.Fatalf("%s[%d]: trainer %v, PyTorch DDP %v", nt.Name, j, a[j], b[j])
			}
		}
	}
	if moved < 1e-3 {
		t.Fatalf("the weights hardly moved from their initial values (%g): nothing was compared", moved)
	}
	t.Logf("worst relative difference %.3g; weights moved up to %.3g", worst, moved)
}

// readFloats reads a state_dict file as float64 values by name.
func readFloats(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	ts, err := torch.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]float64{}
	for _, nt := range ts {
		m[nt.Name] = nntest.Float64s(t, nt.Tensor)
		nt.Tensor.Free()
	}
	return m
}

// ddpRun is a quick distributed training configuration; its epochs take
// 20 steps per rank.
func ddpRun(out string, extra ...string) []string {
	args := []string{"-model", "seed", "-epochs", "2", "-batch-size", "16", "-train-limit", "640",
		"-test-limit", "100", "-seed", "3", "-threads", "1", "-workers", "1", "-data", archive, "-out", out}
	return append(args, extra...)
}

// TestDDPKilledRank kills rank 1 with SIGKILL in the second epoch: rank 0
// must fail within seconds, with an error that names rank 1.
func TestDDPKilledRank(t *testing.T) {
	needArchive(t)
	needGloo(t)
	out := t.TempDir()
	ranks := startJob(t, 2, ddpRun(out, "-epochs", "50"))
	waitFile(t, filepath.Join(out, trainer.MetricsJSONFile), time.Minute)
	ranks[1].cmd.Process.Kill()
	killed := time.Now()
	code := ranks[0].wait(t, 30*time.Second)
	took := time.Since(killed)
	if code != 1 || !strings.Contains(ranks[0].stderr(), "rank 1 was lost") {
		t.Fatalf("rank 0: exit %d after %v, want 1 and an error naming rank 1:\n%s", code, took, ranks[0].stderr())
	}
	if took > 10*time.Second {
		t.Errorf("rank 0 took %v to notice", took)
	}
	t.Logf("rank 0 failed %v after the kill: %s", took.Round(time.Millisecond), lastLine(ranks[0].stderr()))
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// TestDDPGroupNeverForms starts rank 0 of 2 alone: it must give up after
// -dist-timeout, saying that rank 1 never joined.
func TestDDPGroupNeverForms(t *testing.T) {
	needArchive(t)
	needGloo(t)
	start := time.Now()
	ranks := startJob(t, 1, ddpRun(t.TempDir(), "-dist-timeout", "2s"), []string{"WORLD_SIZE=2", "LOCAL_WORLD_SIZE=2"})
	code := ranks[0].wait(t, 30*time.Second)
	if code != 1 || !strings.Contains(ranks[0].stderr(), "rank 1 never joined the group") || !strings.Contains(ranks[0].stderr(), "within 2s") {
		t.Fatalf("exit %d after %v:\n%s", code, time.Since(start), ranks[0].stderr())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v with a 2 s timeout", took)
	}
}

// TestDDPRanksDisagree starts rank 1 with another -lr, then with another
// -model: both ranks must refuse at the start, naming the setting, and
// exit with 1 (not train on, hang or abort in Gloo).
func TestDDPRanksDisagree(t *testing.T) {
	needArchive(t)
	needGloo(t)
	for _, c := range []struct {
		name string
		flag []string
		want []string
	}{
		{"lr", []string{"-lr", "0.1"}, []string{"ranks disagree: lr is 0.05 on rank 0 and 0.1 on rank 1"}},
		{"model", []string{"-model", "sepres"}, []string{`ranks disagree: model is "seed" on rank 0 and "sepres" on rank 1`,
			"parameters is 82474 on rank 0 and 188218 on rank 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			base := ddpRun(out, "-dist-timeout", "20s")
			ranks := startRanks(t, [][]string{base, append(append([]string{}, base...), c.flag...)})
			for i, r := range ranks {
				code := r.wait(t, time.Minute)
				ok := code == 1
				for _, w := range c.want {
					ok = ok && strings.Contains(r.stderr(), w)
				}
				if !ok {
					t.Errorf("rank %d: exit %d, want 1 and %q\nstderr:\n%s", i, code, c.want, r.stderr())
				}
			}
			if _, err := os.Stat(filepath.Join(out, trainer.CheckpointFile)); err == nil {
				t.Error("the refused job wrote a checkpoint")
			}
		})
	}
}

// TestDDPTorchrunGroupSignal runs a torchrun job in a process group of its
// own and sends SIGINT (a terminal's Ctrl-C) or SIGTERM (Slurm's,
// Kubernetes') to the whole group in its second epoch: every rank gets it
// twice, from the group and from torchrun, and must take that as one
// stop: a checkpoint after the same step on both ranks, not "exiting at
// once". Then -resume finishes the run.
func TestDDPTorchrunGroupSignal(t *testing.T) {
	needArchive(t)
	needGloo(t)
	pyref.Require(t, "torch.distributed.run")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(pyref.Python, append(torchrunArgs("--standalone"), ddpRun(out, "-epochs", "3")...)...)
			cmd.Dir = workDir
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var output lockedBuffer
			cmd.Stdout, cmd.Stderr = &output, &output
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done })
			waitFile(t, filepath.Join(out, trainer.MetricsJSONFile), time.Minute)
			time.Sleep(300 * time.Millisecond) // into the second epoch's steps
			if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("torchrun still running a minute after %v:\n%s", sig, output.String())
			}
			got := output.String()
			stops := regexp.MustCompile(`interrupted (at|after) epoch \d+(, batch \d+)?; checkpoint written`).FindAllString(got, -1)
			if strings.Contains(got, "exiting at once") || len(stops) != 2 || stops[0] != stops[1] {
				t.Fatalf("want both ranks to stop after the same step with a checkpoint after one %v; got %q:\n%s", sig, stops, got)
			}
			runJob(t, 2, []string{"-resume", out})
			if h, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile)); err != nil || len(h) != 3 {
				t.Fatalf("metrics after the resume: %+v, %v", h, err)
			}
		})
	}
}

// TestDDPResume interrupts a 2-rank run in its second epoch (SIGINT to
// rank 0 only: both ranks stop after the same step), resumes it with 2
// ranks, and checks that its final weights equal the uninterrupted run's
// bit for bit; then resumes the interrupted checkpoint in one process,
// which must say that the world size changed.
func TestDDPResume(t *testing.T) {
	needArchive(t)
	needGloo(t)
	full := t.TempDir()
	runJob(t, 2, ddpRun(full))

	cut := t.TempDir()
	ranks := startJob(t, 2, ddpRun(cut))
	waitFile(t, filepath.Join(cut, trainer.MetricsJSONFile), time.Minute)
	time.Sleep(300 * time.Millisecond) // into the epoch's steps
	ranks[0].cmd.Process.Signal(syscall.SIGINT)
	c0, c1 := ranks[0].wait(t, time.Minute), ranks[1].wait(t, time.Minute)
	if c0 == 0 && c1 == 0 {
		t.Skip("the run finished before the interrupt; nothing to resume")
	}
	if c0 != 130 || c1 != 130 || !strings.Contains(ranks[0].stderr(), "interrupted at epoch 2") {
		t.Fatalf("interrupted ranks: exit %d and %d, want 130\nrank 0:\n%s\nrank 1:\n%s", c0, c1, ranks[0].stderr(), ranks[1].stderr())
	}
	saved := t.TempDir()
	copyFile(t, filepath.Join(cut, trainer.CheckpointFile), filepath.Join(saved, trainer.CheckpointFile))

	runJob(t, 2, []string{"-resume", cut})
	a := readTensors(t, filepath.Join(full, trainer.StateDictFile))
	b := readTensors(t, filepath.Join(cut, trainer.StateDictFile))
	if !equalTensors(a, b) {
		t.Error("the resumed 2-rank run's final weights differ from the uninterrupted run's")
	}
	ha, _ := metrics.ReadJSON(filepath.Join(full, trainer.MetricsJSONFile))
	hb, _ := metrics.ReadJSON(filepath.Join(cut, trainer.MetricsJSONFile))
	if len(ha) != 2 || len(hb) != 2 || ha[1].TestAcc != hb[1].TestAcc || abs(ha[1].TrainLoss-hb[1].TrainLoss) > 1e-9 {
		t.Errorf("metrics differ:\n%+v\n%+v", ha, hb)
	}

	r := runTrainer(t, "-resume", saved)
	if r.code != 0 {
		t.Fatalf("resume in one process: exit %d: %s", r.code, r.stderr)
	}
	midEpoch := !strings.Contains(r.stderr, "at epoch 2, batch 0\"")
	for _, want := range []string{"the checkpoint was written by 2 processes, and 1 continue it", "restarts from its first batch"} {
		if !strings.Contains(r.stderr, want) && (midEpoch || !strings.Contains(want, "first batch")) {
			t.Errorf("resume in one process: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if h, err := metrics.ReadJSON(filepath.Join(saved, trainer.MetricsJSONFile)); err != nil || len(h) != 2 {
		t.Errorf("resume in one process: metrics %+v, %v", h, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// torchrunArgs is the command line of the README's torchrun examples up to
// the trainer: two processes on this machine; --redirects 2 --tee 2 since
// Debian's torchrun 1.13 crashes on Python 3.11 with its default
// --redirects 0 (pytorch#92319).
func torchrunArgs(mode ...string) []string {
	args := append([]string{"-m", "torch.distributed.run"}, mode...)
	return append(args, "--nproc_per_node", "2", "--redirects", "2", "--tee", "2", "--no_python", binary)
}

// runTorchrun runs torchrun with args (bounded to two minutes) and returns
// its exit code and output.
func runTorchrun(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(pyref.Python, args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), env...)
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(b)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(b)
}

// TestDDPTorchrun runs the README's command under Debian's torchrun, with
// its static rendezvous (the agent hosts the store) and with --standalone
// (rank 0 hosts it), and a job that fails, whose exit code must say so.
func TestDDPTorchrun(t *testing.T) {
	needArchive(t)
	needGloo(t)
	pyref.Require(t, "torch.distributed.run")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{"--master_port", fmt.Sprint(testenv.FreePort(t))}, {"--standalone"}} {
		t.Run(mode[0], func(t *testing.T) {
			if want := "torchrun " + mode[0]; !strings.Contains(string(readme), want) {
				t.Errorf("README.md has no %q command", want)
			}
			out := t.TempDir()
			code, output := runTorchrun(t, nil, append(torchrunArgs(mode...), ddpRun(out, "-epochs", "1", "-train-limit", "128")...)...)
			if code != 0 || !strings.Contains(output, "Distributed: world size 2 (2 on this machine), backend gloo") {
				t.Fatalf("torchrun: exit %d\n%s", code, output)
			}
			if _, err := os.Stat(filepath.Join(out, trainer.StateDictFile)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("failure", func(t *testing.T) {
		code, output := runTorchrun(t, nil, append(torchrunArgs("--standalone"), "-data", "/nonexistent/cifar", "-out", t.TempDir())...)
		if code == 0 || !strings.Contains(output, "/nonexistent/cifar") {
			t.Fatalf("torchrun of a failing job: exit %d\n%s", code, output)
		}
	})
}

// TestDDPTorchrunRestart kills a worker of a torchrun job with
// --max_restarts 1 after the first epoch's checkpoint: torchrun restarts
// the workers, which resume from the checkpoint by themselves and finish.
func TestDDPTorchrunRestart(t *testing.T) {
	needArchive(t)
	needGloo(t)
	pyref.Require(t, "torch.distributed.run")
	out := t.TempDir()
	mark := fmt.Sprintf("GOTRAIN_TEST_JOB=%d", time.Now().UnixNano())
	done := make(chan struct{})
	var code int
	var output string
	go func() {
		defer close(done)
		args := append(torchrunArgs("--standalone", "--max_restarts", "1", "--monitor_interval", "1"), ddpRun(out, "-epochs", "3")...)
		code, output = runTorchrun(t, []string{mark}, args...)
	}()
	waitFile(t, filepath.Join(out, trainer.CheckpointFile), time.Minute)
	pid := findProcess(t, mark, "RANK=1")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	if code != 0 || !strings.Contains(output, "torchrun restart 1: resuming from") {
		t.Fatalf("torchrun: exit %d\n%s", code, output)
	}
	h, err := metrics.ReadJSON(filepath.Join(out, trainer.MetricsJSONFile))
	if err != nil || len(h) != 3 {
		t.Fatalf("metrics after the restart: %+v, %v", h, err)
	}
}

// findProcess returns the pid of the process whose environment holds every
// one of vars.
func findProcess(t *testing.T, vars ...string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		have := map[string]bool{}
		for _, kv := range strings.Split(string(env), "\x00") {
			have[kv] = true
		}
		all := true
		for _, v := range vars {
			all = all && have[v]
		}
		if all {
			return pid
		}
	}
	t.Fatalf("no process has %v", vars)
	return 0
}

// TestBenchDDPScript runs scripts/bench_ddp.sh on a tiny slice and checks
// its summary: a row of four numbers for each of 1x1, 1x2 and 2x1, and
// efficiencies that are the ratios of those rows' images/s.
func TestBenchDDPScript(t *testing.T) {
	needArchive(t)
	needGloo(t)
	pyref.Require(t, "torch.distributed.run")
	if _, err := exec.LookPath("torchrun"); err != nil {
		testenv.Need(t, "torchrun is not on PATH (python3-torch installs it)")
	}
	results := filepath.Join(t.TempDir(), "bench.md")
	cmd := exec.Command("bash", "../../scripts/bench_ddp.sh", results)
	cmd.Env = append(os.Environ(), "TRAINER="+binary, "DATA="+archive, "TRAIN_LIMIT=512", "TEST_LIMIT=100", "BATCH=64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench_ddp.sh: %v\n%s", err, out)
	}
	md, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]float64{}
	for _, row := range []string{"1 process x 1 thread", "1 process x 2 threads", "2 ranks x 1 thread (torchrun, Gloo)"} {
		var v [4]float64
		line := ""
		for _, l := range strings.Split(string(md), "\n") {
			if strings.HasPrefix(l, "| "+row+" |") {
				line = strings.TrimPrefix(l, "| "+row+" |")
			}
		}
		if _, err := fmt.Sscanf(strings.ReplaceAll(line, "|", " "), "%g %g %g %g", &v[0], &v[1], &v[2], &v[3]); err != nil || v[0] <= 0 {
			t.Fatalf("row %q: %q (%v)\n%s", row, line, err, md)
		}
		ips[row] = v[0]
	}
	var e1, e2 float64
	i := strings.Index(string(md), "Scaling efficiency of 2 ranks: ")
	if i < 0 {
		t.Fatalf("no efficiency line:\n%s", md)
	}
	if _, err := fmt.Sscanf(string(md[i:]), "Scaling efficiency of 2 ranks: %g of twice one thread's images/s;\n%g times", &e1, &e2); err != nil {
		t.Fatalf("efficiency line: %v\n%s", err, md[i:])
	}
	two := ips["2 ranks x 1 thread (torchrun, Gloo)"]
	if math.Abs(e1-two/(2*ips["1 process x 1 thread"])) > 0.006 || math.Abs(e2-two/ips["1 process x 2 threads"]) > 0.006 {
		t.Errorf("efficiencies %v and %v are not the ratios of %v", e1, e2, ips)
	}
}
