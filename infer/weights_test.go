package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"gotrain/checkpoint"
	"gotrain/internal/pyref"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// pythonWeights has scripts/pytorch_weights.py define, briefly train and
// save a network, and returns the folder with its files.
func pythonWeights(t *testing.T, model string) string {
	t.Helper()
	pyref.Require(t, "torch")
	dir := t.TempDir()
	cmd := exec.Command(pyref.Python, "../scripts/pytorch_weights.py", model, dir, "--steps", "3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pytorch_weights.py: %v\n%s", err, out)
	}
	return dir
}

// pythonDigest has PyTorch list a state_dict file's keys and value sums.
func pythonDigest(t *testing.T, path string) (keys []string, sums []float64) {
	t.Helper()
	script := `import sys, json, torch
sd = torch.load(sys.argv[1])
json.dump({"keys": list(sd), "sums": [float(v.double().sum()) for v in sd.values()]}, sys.stdout)`
	out, err := exec.Command(pyref.Python, "-c", script, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Keys []string
		Sums []float64
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return d.Keys, d.Sums
}

func sumOf(t *testing.T, x *torch.Tensor) float64 {
	t.Helper()
	d := torch.Must(x.ToDType(torch.Float64))
	defer d.Free()
	s := torch.Must(d.Sum())
	defer s.Free()
	return torch.Must(s.Item())
}

func TestReadWeightsFromPyTorch(t *testing.T) {
	dir := pythonWeights(t, "seed")
	keys, sums := pythonDigest(t, filepath.Join(dir, "state_dict.pt"))
	for _, file := range []string{"state_dict.pt", "torchscript.pt"} {
		t.Run(file, func(t *testing.T) {
			ts, err := ReadWeights(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, nt := range ts {
					nt.Tensor.Free()
				}
			}()
			if len(ts) != len(keys) {
				t.Fatalf("%d tensors, PyTorch's state_dict has %d", len(ts), len(keys))
			}
			for i, nt := range ts {
				if nt.Name != keys[i] {
					t.Fatalf("tensor %d is %s, PyTorch's state_dict has %s", i, nt.Name, keys[i])
				}
				if got := sumOf(t, nt.Tensor); !near(got, sums[i]) {
					t.Errorf("%s sums to %v, PyTorch %v", nt.Name, got, sums[i])
				}
			}
			// And the network takes them by name.
			net, err := LoadNet(filepath.Join(dir, file), "seed", quietLog())
			if err != nil {
				t.Fatal(err)
			}
			nn.Free(net)
		})
	}
}

func TestInitFromRenamedWeights(t *testing.T) {
	dir := pythonWeights(t, "seed")
	// The same tensors under other names (a Python class with other
	// attribute names): loaded by order and shape, with a warning.
	renamed := filepath.Join(dir, "renamed.pt")
	script := `import sys, torch, collections
sd = torch.load(sys.argv[1])
torch.save(collections.OrderedDict(("layer%d" % i, v) for i, v in enumerate(sd.values())), sys.argv[2])`
	if out, err := exec.Command(pyref.Python, "-c", script, filepath.Join(dir, "state_dict.pt"), renamed).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var logs bytes.Buffer
	log := quietLog()
	log.SetOutput(&logs)
	net, err := LoadNet(renamed, "seed", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	if !strings.Contains(logs.String(), "matched 66 tensors by order and shape") || !strings.Contains(logs.String(), "layer0 -> c1.0.weight") {
		t.Errorf("log does not say the weights were matched by order:\n%s", logs.String())
	}
	_, sums := pythonDigest(t, renamed)
	for i, nt := range nn.StateDict(net) {
		if got := sumOf(t, nt.Tensor); !near(got, sums[i]) {
			t.Errorf("%s sums to %v, file %v", nt.Name, got, sums[i])
		}
	}

	// Shapes that do not line up: an error naming the first mismatch.
	_, err = LoadNet(renamed, "sepnet", quietLog())
	if err == nil || !strings.Contains(err.Error(), "does not fit the model") {
		t.Errorf("loading seed weights into sepnet: %v", err)
	}
	_, err = LoadNet(filepath.Join(dir, "state_dict.pt"), "sepnet", quietLog())
	if err == nil || !strings.Contains(err.Error(), "c1.0.weight has shape [16 3 3 3] in the file, [32 3 3 3] in the model") {
		t.Errorf("loading seed weights into sepnet by name: %v", err)
	}
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-4*(1+max(a, -a, b, -b))
}

// TestWeightsFromCheckpoint: one of our checkpoints is detected as one,
// read once for its model's weights (what PyTorch finds under "model"),
// names its network to LoadNet, and other files are refused by
// checkpoint.Read as not checkpoints.
func TestWeightsFromCheckpoint(t *testing.T) {
	pyref.Require(t, "torch")
	dir := t.TempDir()
	net, err := model.New("seed", model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := optim.NewOneCycleLR(optim.DefaultOneCycleLRConfig(0.1, 1, 10))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "checkpoint.pt")
	ck := &checkpoint.Checkpoint{Scheduler: sched.StateDict(1), Run: []byte(`{"config":{"model":"seed"}}`)}
	if ck.Model, err = torch.StateDictValue(nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	if ck.Optimizer, err = opt.StateDict(sched); err != nil {
		t.Fatal(err)
	}
	if ck.RNG, err = torch.RNGState(); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
	if k, err := ptfile.DetectFile(path); err != nil || k != ptfile.Checkpoint {
		t.Fatalf("DetectFile = %v, %v; want %v", k, err, ptfile.Checkpoint)
	}

	script := `import sys, json, torch
sd = torch.load(sys.argv[1])["model"]
json.dump({"keys": list(sd), "sums": [float(v.double().sum()) for v in sd.values()]}, sys.stdout)`
	out, err := exec.Command(pyref.Python, "-c", script, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Keys []string
		Sums []float64
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	defer freeNamed(ts)
	if len(ts) != len(want.Keys) || len(ts) == 0 {
		t.Fatalf("%d tensors, PyTorch finds %d under \"model\"", len(ts), len(want.Keys))
	}
	for i, nt := range ts {
		if nt.Name != want.Keys[i] || !near(sumOf(t, nt.Tensor), want.Sums[i]) {
			t.Errorf("tensor %d: %s sums to %v; PyTorch: %s, %v", i, nt.Name, sumOf(t, nt.Tensor), want.Keys[i], want.Sums[i])
		}
	}

	// LoadNet takes the network from the checkpoint and refuses another.
	loaded, err := LoadNet(path, "", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	nn.Free(loaded)
	if _, err := LoadNet(path, "sepnet", quietLog()); err == nil || !strings.Contains(err.Error(), `is a checkpoint of model "seed", not "sepnet"`) {
		t.Errorf("LoadNet of a seed checkpoint as sepnet: %v", err)
	}

	// A state_dict and garbage are not checkpoints.
	sd := filepath.Join(dir, "model_state_dict.pt")
	if err := torch.Save(sd, nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Read(sd); !errors.Is(err, checkpoint.ErrNotCheckpoint) || !strings.Contains(err.Error(), "it is a state_dict") {
		t.Errorf("checkpoint.Read of a state_dict: %v, want ErrNotCheckpoint", err)
	}
	garbage := filepath.Join(dir, "garbage.pt")
	if err := os.WriteFile(garbage, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fe *ptfile.FormatError
	if _, err := checkpoint.Read(garbage); !errors.As(err, &fe) {
		t.Errorf("checkpoint.Read of garbage: %v, want a *ptfile.FormatError", err)
	}
	if _, err := ReadWeights(garbage); !errors.As(err, &fe) || !strings.Contains(err.Error(), "reading weights: ptfile: "+garbage+": not a torch.save zip archive") {
		t.Errorf("ReadWeights of garbage: %v, want a *ptfile.FormatError", err)
	}
}
