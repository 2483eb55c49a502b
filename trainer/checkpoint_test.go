package trainer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gotrain/checkpoint"
	"gotrain/dataset"
	"gotrain/internal/nntest"
	"gotrain/internal/pyref"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// testRun builds the model, optimizer and scheduler of cfg as Run does,
// for a run of stepsPerEpoch steps per epoch, without data.
func testRun(t *testing.T, cfg Config, stepsPerEpoch int) *run {
	t.Helper()
	if err := torch.ManualSeed(cfg.Seed); err != nil {
		t.Fatal(err)
	}
	net, err := model.New(cfg.Model, model.Options{Dropout: cfg.Dropout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nn.Free(net) })
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opt.Free)
	sched, err := optim.NewOneCycleLR(optim.OneCycleLRConfig{
		MaxLR: cfg.LR, Epochs: cfg.Epochs, StepsPerEpoch: stepsPerEpoch, PctStart: cfg.PctStart,
		AnnealStrategy: "cos", CycleMomentum: cfg.CycleMomentum, BaseMomentum: 0.85, MaxMomentum: 0.95,
		DivFactor: 25, FinalDivFactor: 1e4,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &run{cfg: cfg, net: net, opt: opt, sched: sched, dev: torch.CPU, state: runState{Config: cfg}}
}

// train takes the steps of batches as trainEpoch does and returns their
// losses; the running sums end in r.state.Partial.
func (r *run) trainSteps(t *testing.T, batches []*dataset.Batch) []float64 {
	t.Helper()
	stats, err := newRunningStats(r.dev)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.free()
	var losses []float64
	prev := 0.0
	for _, b := range batches {
		b.Index = r.state.Batch
		if err := r.step(&trainBatch{Index: b.Index, N: b.N, cpu: b}, stats); err != nil {
			t.Fatal(err)
		}
		r.state.Batch++
		l, _, _, err := stats.read(partialEpoch{})
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, (l-prev)/float64(b.N))
		prev = l
	}
	loss, correct, seen, err := stats.read(r.state.Partial)
	if err != nil {
		t.Fatal(err)
	}
	r.state.Partial = partialEpoch{LossSum: loss, Correct: correct, Seen: seen}
	return losses
}

// fixedBatches makes n batches of Gaussian images whose labels shift the
// red channel, so that the loss has something to learn.
func fixedBatches(n, size int) []*dataset.Batch {
	rng := rand.New(rand.NewPCG(7, 8))
	const img = 3 * dataset.Height * dataset.Width
	var out []*dataset.Batch
	for range n {
		b := &dataset.Batch{X: make([]float32, size*img), Y: make([]int64, size), N: size}
		for i := range b.X {
			b.X[i] = float32(rng.NormFloat64())
		}
		for i := range b.Y {
			b.Y[i] = int64(rng.IntN(10))
			for j := range dataset.Height * dataset.Width {
				b.X[i*img+j] += 0.1 * float32(b.Y[i])
			}
		}
		out = append(out, b)
	}
	return out
}

// writeBatches writes batches as resume_checkpoint.py --batches reads them.
func writeBatches(t *testing.T, dir string, batches []*dataset.Batch) {
	t.Helper()
	var x, y bytes.Buffer
	for _, b := range batches {
		binary.Write(&x, binary.LittleEndian, b.X)
		binary.Write(&y, binary.LittleEndian, b.Y)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.f32"), x.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "y.i64"), y.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareWeights fails unless a and b hold the same tensors to within tol
// (relative to max(1, |b|)), and returns the largest difference.
func compareWeights(t *testing.T, what string, a, b []nn.NamedTensor, tol float64) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d tensors against %d", what, len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		if a[i].Name != b[i].Name {
			t.Fatalf("%s: tensor %d is %s against %s", what, i, a[i].Name, b[i].Name)
		}
		x, y := nntest.Float64s(t, a[i].Tensor), nntest.Float64s(t, b[i].Tensor)
		for j := range x {
			d := math.Abs(x[j]-y[j]) / math.Max(1, math.Abs(y[j]))
			worst = max(worst, d)
			if !(d <= tol) {
				t.Fatalf("%s: %s[%d] = %v against %v", what, a[i].Name, j, x[j], y[j])
			}
		}
	}
	return worst
}

// snapshot copies the tensors of ts (they outlive later steps).
func snapshot(t *testing.T, ts []nn.NamedTensor) []nn.NamedTensor {
	t.Helper()
	var out []nn.NamedTensor
	for _, nt := range ts {
		c, err := nt.Tensor.Clone()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, nn.NamedTensor{Name: nt.Name, Tensor: torch.Keep(c)})
	}
	t.Cleanup(func() { freeNamed(out) })
	return out
}

// optBuffers returns copies of opt's momentum buffers (stateBuffers of its
// StateDict).
func optBuffers(t *testing.T, opt *optim.SGD) []nn.NamedTensor {
	t.Helper()
	sd, err := opt.StateDict(nil)
	if err != nil {
		t.Fatal(err)
	}
	return stateBuffers(t, sd)
}

// stateBuffers returns the tensors in the "state" of an SGD state_dict
// ({i: {name: t}}, one momentum buffer each) as CPU tensors named by
// parameter number, freed when the test ends.
func stateBuffers(t *testing.T, sd *ptfile.Dict) []nn.NamedTensor {
	t.Helper()
	st, _ := sd.Get("state")
	var out []nn.NamedTensor
	for _, it := range st.(*ptfile.Dict).Items {
		inner := it.Value.(*ptfile.Dict)
		if len(inner.Items) != 1 {
			t.Fatalf("state %v holds %d values, want one buffer", it.Key, len(inner.Items))
		}
		x := torch.Keep(torch.Must(torch.FromEntry(inner.Items[0].Value.(*ptfile.Entry))))
		t.Cleanup(x.Free)
		out = append(out, nn.NamedTensor{Name: fmt.Sprint(it.Key), Tensor: x})
	}
	return out
}

// TestCheckpointResumesInPyTorch saves a Go checkpoint mid-epoch, resumes it
// with scripts/resume_checkpoint.py (PyTorch's SGD, OneCycleLR,
// set_rng_state and the twin network) for K steps on the batches Go trains
// on next, and checks that PyTorch's losses, weights, momentum buffers and
// CPU generator state after them equal Go's after the same K steps. Then Go
// resumes the checkpoint PyTorch saved in the same layout and trains K2
// more steps, which must equal K2 more steps of the Go run that never
// stopped. Dropout is on, so the generator state must travel both ways.
func TestCheckpointResumesInPyTorch(t *testing.T) {
	pyref.Require(t, "torch", "numpy")
	torch.SetNumThreads(1)
	cfg := DefaultConfig()
	cfg.Model, cfg.Epochs, cfg.BatchSize, cfg.Seed, cfg.Augment = "seed", 2, 16, 3, false
	cfg.Device, cfg.Threads, cfg.Workers, cfg.ChannelsLast = "cpu", 1, 1, false
	const perEpoch, n0, k, k2 = 8, 3, 3, 2 // checkpoint after n0 steps, all within epoch 1
	dir := t.TempDir()
	batches := fixedBatches(n0+k+k2, cfg.BatchSize)
	writeBatches(t, filepath.Join(dir, "next"), batches[n0:n0+k])

	goRun := testRun(t, cfg, perEpoch)
	goRun.trainSteps(t, batches[:n0])
	goCk := filepath.Join(dir, "go.pt")
	if err := saveCheckpoint(goCk, goRun.net, goRun.opt, goRun.sched, goRun.state, nil); err != nil {
		t.Fatal(err)
	}
	goLosses := goRun.trainSteps(t, batches[n0:n0+k])
	goModel := snapshot(t, nn.StateDict(goRun.net))
	goBufs := optBuffers(t, goRun.opt)
	goRNG, err := torch.RNGState()
	if err != nil {
		t.Fatal(err)
	}

	pyCk := filepath.Join(dir, "py.pt")
	cmd := exec.Command(pyref.Python, "../scripts/resume_checkpoint.py", goCk, "--batches", filepath.Join(dir, "next"),
		"--steps", fmt.Sprint(k), "--out", pyCk)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("resume_checkpoint.py: %v\n%s", err, stderr.Bytes())
	}
	var py struct {
		Losses []float64
		Run    struct{ Epoch, Batch, Step int }
	}
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatalf("resume_checkpoint.py printed %q: %v", out, err)
	}
	if len(py.Losses) != k || py.Run.Batch != n0+k || py.Run.Step != n0+k || py.Run.Epoch != 0 {
		t.Fatalf("PyTorch reports %+v", py)
	}
	for i := range k {
		if math.Abs(py.Losses[i]-goLosses[i]) > 1e-5*math.Abs(goLosses[i]) {
			t.Errorf("step %d: PyTorch loss %.8f, Go %.8f", n0+i, py.Losses[i], goLosses[i])
		}
	}

	ck, err := readCheckpoint(pyCk)
	if err != nil {
		t.Fatalf("reading PyTorch's checkpoint: %v", err)
	}
	ckModel, err := torch.TensorsOf(ck.Model)
	if err != nil {
		t.Fatal(err)
	}
	defer freeNamed(ckModel)
	worst := compareWeights(t, "model after K steps, PyTorch against Go", ckModel, goModel, 1e-5)
	compareWeights(t, "momentum buffers after K steps, PyTorch against Go", stateBuffers(t, ck.Optimizer), goBufs, 1e-5)
	if !bytes.Equal(ck.RNG, goRNG) {
		t.Errorf("PyTorch's torch.get_rng_state() after K steps differs from Go's generator state (%d and %d bytes)", len(ck.RNG), len(goRNG))
	}
	t.Logf("PyTorch vs Go after %d resumed steps: worst weight difference %.3g", k, worst)

	// Go resumes PyTorch's checkpoint.
	resumed := testRun(t, ck.Config, perEpoch)
	if err := restore(ck, resumed.net, resumed.opt, resumed.sched, nil, &resumed.state, true); err != nil {
		t.Fatalf("restoring PyTorch's checkpoint: %v", err)
	}
	st := resumed.state
	if st.Batch != n0+k || st.Step != n0+k || len(st.LRs) != n0+k || st.Partial.Seen != int64((n0+k)*cfg.BatchSize) ||
		resumed.sched.LastStep() != n0+k {
		t.Fatalf("run state from PyTorch: batch %d step %d, %d lrs, %d seen, scheduler at %d", st.Batch, st.Step, len(st.LRs), st.Partial.Seen, resumed.sched.LastStep())
	}
	if math.Abs(st.Partial.LossSum-goRun.state.Partial.LossSum) > 1e-4 || st.Partial.Correct != goRun.state.Partial.Correct {
		t.Errorf("running sums from PyTorch %+v, Go %+v", st.Partial, goRun.state.Partial)
	}
	resumed.trainSteps(t, batches[n0+k:])
	// Both runs draw from libtorch's one CPU generator: the uninterrupted
	// run continues from where it was.
	if err := torch.SetRNGState(goRNG); err != nil {
		t.Fatal(err)
	}
	goRun.trainSteps(t, batches[n0+k:])
	compareWeights(t, "model after K2 more steps, resumed from PyTorch against uninterrupted Go", nn.StateDict(resumed.net), nn.StateDict(goRun.net), 1e-5)
	compareWeights(t, "momentum buffers after K2 more steps", optBuffers(t, resumed.opt), optBuffers(t, goRun.opt), 1e-5)
	if a, b := resumed.state.LRs, goRun.state.LRs; len(a) != len(b) || math.Abs(a[len(a)-1]-b[len(b)-1]) > 1e-15 {
		t.Errorf("lr history %v, Go %v", a, b)
	}
}

// TestCheckpointLayout checks the file as PyTorch sees it: torch.load
// gives the keys of SGD.state_dict() (all of them, in order, next to those
// of a real SGD with OneCycleLR), OneCycleLR.state_dict()'s keys, a uint8
// rng_state of torch.get_rng_state()'s size and the run's state as a dict;
// and SGD.load_state_dict and OneCycleLR.load_state_dict accept them.
func TestCheckpointLayout(t *testing.T) {
	pyref.Require(t, "torch")
	cfg := DefaultConfig()
	cfg.Model, cfg.Epochs = "seed", 2
	r := testRun(t, cfg, 5)
	r.trainSteps(t, fixedBatches(2, 4))
	path := filepath.Join(t.TempDir(), CheckpointFile)
	if err := saveCheckpoint(path, r.net, r.opt, r.sched, r.state, nil); err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, json, torch
sys.path.insert(0, "../scripts")
import models
ck = torch.load(sys.argv[1])
net = models.NETWORKS["seed"]()
ref = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
ref_sched = torch.optim.lr_scheduler.OneCycleLR(ref, max_lr=0.05, total_steps=10)
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10)
opt.load_state_dict(ck["optimizer"])
sched.load_state_dict(ck["scheduler"])
rng = ck["rng_state"]
json.dump({
  "top": list(ck),
  "group_keys": list(ck["optimizer"]["param_groups"][0]),
  "ref_group_keys": list(ref.state_dict()["param_groups"][0]),
  "sched_keys": sorted(ck["scheduler"]),
  "ref_sched_keys": sorted(k for k in ref_sched.state_dict() if k != "anneal_func"),
  "state_keys": sorted(ck["optimizer"]["state"]),
  "rng": [str(rng.dtype), list(rng.shape), list(torch.get_rng_state().shape)],
  "run": [type(ck["run"]).__name__, ck["run"]["format"], ck["run"]["step"], ck["run"]["config"]["model"]],
  "lr": [opt.param_groups[0]["lr"], sched.last_epoch, sched.get_last_lr()[0]],
}, sys.stdout)
`
	out, err := exec.Command(pyref.Python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("PyTorch: %v\n%s", err, out)
	}
	var got struct {
		Top          []string `json:"top"`
		GroupKeys    []string `json:"group_keys"`
		RefGroupKeys []string `json:"ref_group_keys"`
		SchedKeys    []string `json:"sched_keys"`
		RefSchedKeys []string `json:"ref_sched_keys"`
		StateKeys    []int    `json:"state_keys"`
		RNG          []any    `json:"rng"`
		Run          []any    `json:"run"`
		LR           []float64
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if s := strings.Join(got.Top, ","); s != "model,optimizer,scheduler,rng_state,run" {
		t.Errorf("top-level keys %s", s)
	}
	if a, b := strings.Join(got.GroupKeys, ","), strings.Join(got.RefGroupKeys, ","); a != b {
		t.Errorf("param_groups keys\n%s\ntorch.optim.SGD with OneCycleLR:\n%s", a, b)
	}
	// PyTorch 2.x names the annealing function; 1.13 holds the function.
	ref := got.RefSchedKeys
	if !slices.Contains(ref, "_anneal_func_type") {
		ref = append(ref, "_anneal_func_type")
		slices.Sort(ref)
	}
	want := strings.Join(ref, ",")
	if s := strings.Join(got.SchedKeys, ","); s != want {
		t.Errorf("scheduler keys\n%s\nOneCycleLR's:\n%s", s, want)
	}
	if len(got.StateKeys) != len(nn.NamedParameters(r.net)) || got.StateKeys[0] != 0 {
		t.Errorf("optimizer state keys %v", got.StateKeys)
	}
	if fmt.Sprint(got.RNG) != "[torch.uint8 [5056] [5056]]" {
		t.Errorf("rng_state %v, want torch.get_rng_state()'s dtype and shape", got.RNG)
	}
	if fmt.Sprint(got.Run) != "[dict gotrain-checkpoint/2 2 seed]" {
		t.Errorf("run %v", got.Run)
	}
	if got.LR[1] != 2 || math.Abs(got.LR[0]-r.sched.LR(2)) > 1e-15*r.sched.LR(2) || got.LR[2] != got.LR[0] {
		t.Errorf("after load_state_dict: lr %v, last_epoch %v, get_last_lr %v; want lr %v at step 2", got.LR[0], got.LR[1], got.LR[2], r.sched.LR(2))
	}
}

// TestCheckpointV1StillLoads writes a checkpoint of the first layout (the
// optimizer's state only; scheduler and run state as JSON text under
// "progress") and resumes it; a checkpoint of an unknown layout is refused
// with a message naming the layouts.
func TestCheckpointV1StillLoads(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Model, cfg.Epochs = "seed", 2
	r := testRun(t, cfg, 5)
	r.trainSteps(t, fixedBatches(3, 4))
	r.state.Batch = 3
	schedJSON, err := r.sched.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := json.Marshal(struct {
		Format string `json:"format"`
		runState
		Scheduler json.RawMessage `json:"scheduler"`
	}{checkpoint.FormatV1, r.state, schedJSON})
	if err != nil {
		t.Fatal(err)
	}
	model, err := torch.StateDictValue(nn.StateDict(r.net))
	if err != nil {
		t.Fatal(err)
	}
	optState, err := r.opt.StateDict(nil)
	if err != nil {
		t.Fatal(err)
	}
	state, _ := optState.Get("state")
	rng, _ := torch.RNGState()
	write := func(progress string) string {
		path := filepath.Join(t.TempDir(), CheckpointFile)
		err := ptfile.SaveFile(path, ptfile.NewDict("model", model, "optimizer", ptfile.NewDict("state", state),
			"rng_state", &ptfile.Entry{DType: ptfile.Uint8, Shape: []int64{int64(len(rng))}, Data: rng}, "progress", progress))
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	ck, err := readCheckpoint(write(string(meta)))
	if err != nil {
		t.Fatal(err)
	}
	fresh := testRun(t, cfg, 5)
	if err := restore(ck, fresh.net, fresh.opt, fresh.sched, nil, &fresh.state, true); err != nil {
		t.Fatal(err)
	}
	if fresh.state.Batch != 3 || fresh.sched.LastStep() != 3 || len(optBuffers(t, fresh.opt)) != len(optBuffers(t, r.opt)) {
		t.Errorf("v1 checkpoint restored at batch %d, scheduler step %d, %d buffers", fresh.state.Batch, fresh.sched.LastStep(), len(optBuffers(t, fresh.opt)))
	}
	compareWeights(t, "v1 model", nn.StateDict(fresh.net), nn.StateDict(r.net), 0)

	future := strings.Replace(string(meta), checkpoint.FormatV1, "gotrain-checkpoint/9", 1)
	if _, err := readCheckpoint(write(future)); err == nil || !strings.Contains(err.Error(), `format "gotrain-checkpoint/9", want "gotrain-checkpoint/2"`) {
		t.Errorf("unknown layout: %v", err)
	}
}
