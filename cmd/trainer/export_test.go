package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/checkpoint"
	"gotrain/infer"
	"gotrain/internal/pyref"
	"gotrain/internal/testdir"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/trainer"
)

// writeSeedWeights saves a fresh seed network's state_dict to a temporary
// file and returns its path.
func writeSeedWeights(t *testing.T) string {
	t.Helper()
	net, err := model.New("seed", model.Options{Dropout: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	path := filepath.Join(t.TempDir(), "seed.pt")
	if err := torch.Save(path, nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExportDiskFull exports onto a tmpfs too small for the file. Both
// formats must fail cleanly: exit 1, an error naming the file and the full
// disk, nothing left in the folder. Before, the TorchScript export aborted
// (SIGABRT, a long C++ trace, exit 2) and left its temporary file there.
func TestExportDiskFull(t *testing.T) {
	weights := writeSeedWeights(t)
	for _, format := range []string{"state_dict", "torchscript"} {
		t.Run(format, func(t *testing.T) {
			dir := testdir.SmallTmpfs(t, 64<<10) // the seed network's files are over 300 KB
			out := filepath.Join(dir, "model.pt")
			r := runTrainer(t, "export", "-weights", weights, "-model", "seed", "-format", format, "-o", out)
			if r.code != exitError || !strings.Contains(r.stderr, out) || !strings.Contains(r.stderr, "no space left on device") {
				t.Errorf("exit %d (want %d), stderr should name %s and the full disk:\n%s", r.code, exitError, out, r.stderr)
			}
			if n := strings.Count(r.stderr, "\n"); n > 3 {
				t.Errorf("stderr has %d lines, want a short error:\n%s", n, r.stderr)
			}
			testdir.AssertOnly(t, dir)
		})
	}
}

// TestTorchScriptFineTunedInPython exports a network as TorchScript,
// fine-tunes the file in PyTorch (train mode, SGD) and saves it with
// torch.jit.save; the trainer must read the fine-tuned weights and running
// statistics back (export -format state_dict gives PyTorch's state_dict
// of it) and evaluate with them.
func TestTorchScriptFineTunedInPython(t *testing.T) {
	pyref.Require(t, "torch")
	dir := t.TempDir()
	ts := filepath.Join(dir, "export.pt")
	if r := runTrainer(t, "export", "-weights", writeSeedWeights(t), "-model", "seed", "-format", "torchscript", "-o", ts); r.code != 0 {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	tuned, pySD := filepath.Join(dir, "tuned.pt"), filepath.Join(dir, "tuned_sd.pt")
	const finetune = `
import sys, torch, torch.nn.functional as F
src, tuned, sd = sys.argv[1:4]
m = torch.jit.load(src)
before = {k: v.clone() for k, v in m.state_dict().items()}
m.train()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
g = torch.Generator().manual_seed(0)
for _ in range(2):
    opt.zero_grad()
    F.cross_entropy(m(torch.randn(8, 3, 32, 32, generator=g)), torch.randint(0, 10, (8,), generator=g)).backward()
    opt.step()
m.eval()
after = m.state_dict()
for k in ("c1.0.weight", "c1.1.running_mean", "c1.1.num_batches_tracked"):
    assert not torch.equal(after[k], before[k]), k + " did not change"
torch.jit.save(m, tuned)
torch.save(after, sd)
`
	if out, err := exec.Command(pyref.Python, "-c", finetune, ts, tuned, pySD).CombinedOutput(); err != nil {
		t.Fatalf("fine-tuning in PyTorch: %v\n%s", err, out)
	}
	goSD := filepath.Join(dir, "go_sd.pt")
	if r := runTrainer(t, "export", "-weights", tuned, "-model", "seed", "-format", "state_dict", "-o", goSD); r.code != 0 {
		t.Fatalf("export of the fine-tuned file: exit %d: %s", r.code, r.stderr)
	}
	if !equalTensors(readTensors(t, goSD), readTensors(t, pySD)) {
		t.Error("the trainer read other weights from the fine-tuned TorchScript than PyTorch's state_dict of it")
	}
	if _, err := os.Stat(archive); err == nil {
		if r := runTrainer(t, "evaluate", "-weights", tuned, "-model", "seed", "-data", archive, "-test-limit", "100"); r.code != 0 {
			t.Errorf("evaluate -weights %s: exit %d: %s", tuned, r.code, r.stderr)
		}
	}
}

// writeSeedCheckpoint saves a checkpoint of a fresh seed network whose
// run recorded the given dropout, as a run writes it, and returns its path.
func writeSeedCheckpoint(t *testing.T, dropout float64) string {
	t.Helper()
	net, err := model.New("seed", model.Options{Dropout: dropout})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	sched, err := optim.NewOneCycleLR(optim.DefaultOneCycleLRConfig(0.1, 1, 10))
	if err != nil {
		t.Fatal(err)
	}
	cfg := trainer.DefaultConfig()
	cfg.Model, cfg.Dropout = "seed", dropout
	run, err := json.Marshal(map[string]any{"config": cfg})
	if err != nil {
		t.Fatal(err)
	}
	ck := &checkpoint.Checkpoint{Scheduler: sched.StateDict(1), Run: run}
	ck.Model = torch.Must(torch.StateDictValue(nn.StateDict(net)))
	ck.Optimizer = torch.Must(opt.StateDict(sched))
	ck.RNG = torch.Must(torch.RNGState())
	path := filepath.Join(t.TempDir(), trainer.CheckpointFile)
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExportCarriesDropout exports TorchScript from a checkpoint of a run
// with -dropout 0.2 and from a plain state_dict, and has PyTorch read the
// dropout probability of each module's Dropout: the run's (or -dropout's,
// when given), else the seed's 0.05, so that the export fine-tunes in
// train mode like the run's own model_torchscript.pt and the PyTorch twin.
// (It was 0 whatever the run had.)
func TestExportCarriesDropout(t *testing.T) {
	pyref.Require(t, "torch")
	if infer.DefaultDropout != trainer.DefaultConfig().Dropout {
		t.Fatalf("infer.DefaultDropout %v, the trainer's default %v", infer.DefaultDropout, trainer.DefaultConfig().Dropout)
	}
	ck, sd := writeSeedCheckpoint(t, 0.2), writeSeedWeights(t)
	dir := t.TempDir()
	cases := []struct {
		weights string
		extra   []string
		want    float64
	}{
		{ck, nil, 0.2},
		{ck, []string{"-dropout", "0.1"}, 0.1},
		{sd, nil, 0.05},
		{sd, []string{"-dropout", "0"}, 0},
	}
	const readP = `
import sys, re, json, torch
m = torch.jit.load(sys.argv[1])
ps = [float(re.search(r"torch.dropout\(x, ([^,]+), ", s.code).group(1))
      for s in m.modules() if s.original_name == "Dropout"]
json.dump(ps, sys.stdout)`
	for i, c := range cases {
		out := filepath.Join(dir, fmt.Sprintf("export%d.pt", i))
		args := append([]string{"export", "-weights", c.weights, "-model", "seed", "-format", "torchscript", "-o", out}, c.extra...)
		if r := runTrainer(t, args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		text, err := exec.Command(pyref.Python, "-c", readP, out).Output()
		if err != nil {
			t.Fatalf("PyTorch reading %s: %v", out, err)
		}
		var ps []float64
		if err := json.Unmarshal(text, &ps); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if len(ps) != 1 || ps[0] != c.want {
			t.Errorf("export of %s %v: Dropout p %v, want [%v]", filepath.Base(c.weights), c.extra, ps, c.want)
		}
	}
}
