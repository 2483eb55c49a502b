package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gotrain/internal/nntest"
	"gotrain/internal/pyref"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

const python = pyref.Python

// needTorch skips the test unless python has torch and numpy (under CI it
// fails instead).
func needTorch(t *testing.T) {
	t.Helper()
	pyref.Require(t, "torch", "numpy")
}

// TestParityWithPyTorch trains the seed network in Go and in PyTorch from
// the same weights on the same fixed batches (no augmentation) for 20 SGD
// steps, and compares every loss and the final weights.
func TestParityWithPyTorch(t *testing.T) {
	needTorch(t)
	torch.SetNumThreads(1)
	const (
		steps, batch = 20, 32
		lr, mom, wd  = 0.05, 0.9, 5e-4
		dropout      = 0.05
		dropoutSeed  = 7
	)
	dir := t.TempDir()
	if err := torch.ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	net, err := New("seed", Options{Dropout: dropout})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(net)
	if err := torch.Save(filepath.Join(dir, "init.pt"), nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
	// Fixed batches: Gaussian images, labels correlated with the mean of
	// the red channel so that the loss has something to learn.
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, steps*batch*3*32*32)
	ys := make([]int64, steps*batch)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	for i := range ys {
		ys[i] = int64(rng.IntN(10))
		img := xs[i*3*32*32 : i*3*32*32+32*32]
		for j := range img {
			img[j] += float32(ys[i]) * 0.1
		}
	}
	nntest.WriteLE(t, filepath.Join(dir, "x.f32"), xs)
	nntest.WriteLE(t, filepath.Join(dir, "y.i64"), ys)
	meta, _ := json.Marshal(map[string]any{"model": "seed", "dropout": dropout, "steps": steps, "batch": batch,
		"lr": lr, "momentum": mom, "weight_decay": wd, "seed": dropoutSeed})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}

	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: lr, Momentum: mom, WeightDecay: wd})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	if err := torch.ManualSeed(dropoutSeed); err != nil {
		t.Fatal(err)
	}
	var goLosses []float64
	for i := range steps {
		err := torch.WithScope(func() error {
			x, err := torch.FromSlice(xs[i*batch*3*32*32:(i+1)*batch*3*32*32], batch, 3, 32, 32)
			if err != nil {
				return err
			}
			y, err := torch.FromSlice(ys[i*batch : (i+1)*batch])
			if err != nil {
				return err
			}
			l, err := nntest.Step(net, opt, x, y)
			goLosses = append(goLosses, l)
			return err
		})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}

	cmd := exec.Command(python, "testdata/parity.py", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parity.py: %v", err)
	}
	var py struct{ Losses []float64 }
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatalf("parity.py output %q: %v", out, err)
	}
	if len(py.Losses) != steps {
		t.Fatalf("PyTorch reported %d losses, want %d", len(py.Losses), steps)
	}
	for i := range steps {
		if rel := math.Abs(goLosses[i]-py.Losses[i]) / math.Abs(py.Losses[i]); rel > 1e-4 {
			t.Errorf("step %d: Go loss %.7f, PyTorch %.7f (relative difference %.2g)", i, goLosses[i], py.Losses[i], rel)
		}
	}
	if goLosses[steps-1] >= goLosses[0] {
		t.Errorf("loss did not fall: %v -> %v", goLosses[0], goLosses[steps-1])
	}
	final, err := torch.Load(filepath.Join(dir, "final_py.pt"))
	if err != nil {
		t.Fatal(err)
	}
	mine := nn.StateDict(net)
	if len(final) != len(mine) {
		t.Fatalf("PyTorch state dict has %d tensors, Go %d", len(final), len(mine))
	}
	worst := 0.0
	for i, nt := range final {
		if nt.Name != mine[i].Name {
			t.Fatalf("tensor %d: PyTorch %s, Go %s", i, nt.Name, mine[i].Name)
		}
		a := nntest.Float64s(t, mine[i].Tensor)
		b := nntest.Float64s(t, nt.Tensor)
		for j := range a {
			d := math.Abs(a[j]-b[j]) / math.Max(1, math.Abs(b[j]))
			worst = max(worst, d)
			if d > 1e-4 {
				t.Fatalf("%s[%d]: Go %v, PyTorch %v", nt.Name, j, a[j], b[j])
			}
		}
		nt.Tensor.Free()
	}
	t.Logf("losses %.4f -> %.4f; worst final weight difference %.3g", goLosses[0], goLosses[steps-1], worst)
}
