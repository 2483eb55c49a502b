package nn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/internal/testdir"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// TestScriptBatchNormFloats scripts BatchNorm2d with whole-number,
// infinite and NaN momentum and eps, which TorchScript must read as floats,
// and checks that the scripted module computes what the module does in
// evaluation mode.
func TestScriptBatchNormFloats(t *testing.T) {
	for _, c := range []struct{ momentum, eps float64 }{
		{0, 1}, {1, 2}, {math.NaN(), math.Inf(1)}, {0.1, 1e-5}, {-3, 1e20},
	} {
		err := torch.WithScope(func() error {
			bn, err := nn.NewBatchNorm2d(2)
			if err != nil {
				return err
			}
			defer nn.Free(bn)
			bn.Momentum, bn.Eps = c.momentum, c.eps
			err = torch.NoGrad(func() error {
				for _, v := range []struct {
					t    *torch.Tensor
					vals []float32
				}{{bn.Weight, []float32{2, 0.5}}, {bn.Bias, []float32{0.25, -1}},
					{bn.RunningMean, []float32{1, -1}}, {bn.RunningVar, []float32{3, 0.5}}} {
					if err := v.t.Copy_(torch.Must(torch.FromSlice(v.vals))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			nn.SetTraining(bn, false)
			x := torch.Must(torch.FromSlice([]float32{1, 2, 3, 4, -1, -2, 0.5, 8}, 1, 2, 2, 2))
			want := torch.Must(torch.ToSlice[float32](torch.Must(bn.Forward(x))))

			sm, err := nn.Script(bn)
			if err != nil {
				return err
			}
			defer sm.Free()
			if err := sm.SetTraining(false); err != nil {
				return err
			}
			y, err := sm.Forward(x)
			if err != nil {
				return err
			}
			got := torch.Must(torch.ToSlice[float32](y))
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("momentum %v, eps %v: scripted %v, module %v", c.momentum, c.eps, got, want)
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("momentum %v, eps %v: %v", c.momentum, c.eps, err)
		}
	}
}

// scriptTestNet is a small network with every module of this package: conv,
// batch norm, ReLU, dropout, pooling, flatten and linear, in a Sequential.
func scriptTestNet(t *testing.T) *nn.Sequential {
	t.Helper()
	conv, err := nn.NewConv2d(nn.Conv2dConfig{InChannels: 3, OutChannels: 4, KernelSize: [2]int64{3, 3}, Padding: [2]int64{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := nn.NewBatchNorm2d(4)
	if err != nil {
		t.Fatal(err)
	}
	drop, err := nn.NewDropout(0.5)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := nn.NewLinear(4*2*2, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	return nn.NewSequential(conv, bn, nn.ReLU{}, drop, nn.AdaptiveAvgPool2d{OutputSize: [2]int64{2, 2}}, nn.NewFlatten(), lin)
}

// TestScriptModes runs a scripted network next to a Go copy of it, in
// training mode (batch statistics, running statistics and batch count
// updated, dropout on with the same generator state) and in evaluation
// mode. The scripted module starts in evaluation mode.
func TestScriptModes(t *testing.T) {
	goNet, scripted := scriptTestNet(t), scriptTestNet(t)
	defer nn.Free(goNet)
	defer nn.Free(scripted)
	if _, err := nn.LoadStateDict(scripted, nn.StateDict(goNet)); err != nil {
		t.Fatal(err)
	}
	sm, err := nn.Script(scripted)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Free()

	err = torch.WithScope(func() error {
		if err := torch.ManualSeed(1); err != nil {
			return err
		}
		x, err := torch.Randn([]int64{6, 3, 4, 4}, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		// forward runs both on x with the same dropout draws (from seed),
		// compares, and returns the scripted output.
		forward := func(mode string, seed uint64) []float32 {
			t.Helper()
			torch.Must(0, torch.ManualSeed(seed))
			want := torch.Must(torch.ToSlice[float32](torch.Must(goNet.Forward(x))))
			torch.Must(0, torch.ManualSeed(seed))
			got := torch.Must(torch.ToSlice[float32](torch.Must(sm.Forward(x))))
			if !slices.Equal(got, want) {
				t.Errorf("%s: scripted %v, Go %v", mode, got, want)
			}
			return got
		}
		// A fresh script is in evaluation mode whatever the Go modules' mode.
		nn.SetTraining(goNet, false)
		forward("default (eval)", 7)
		bn := scripted.Layers[1].(*nn.BatchNorm2d)
		if n := torch.Must(bn.NumBatchesTracked.ItemInt64()); n != 0 {
			t.Errorf("eval forward counted %d batches", n)
		}

		nn.SetTraining(goNet, true)
		if err := sm.SetTraining(true); err != nil {
			return err
		}
		a := forward("train", 7)
		b := forward("train, second batch", 8)
		// Batch statistics make the output independent of the running
		// ones, so only dropout tells these apart.
		if slices.Equal(a, b) {
			t.Error("training forwards with other dropout draws gave the same output: dropout is off")
		}
		goBN := goNet.Layers[1].(*nn.BatchNorm2d)
		for _, p := range []struct {
			name      string
			got, want *torch.Tensor
		}{{"running_mean", bn.RunningMean, goBN.RunningMean}, {"running_var", bn.RunningVar, goBN.RunningVar}} {
			g, w := torch.Must(torch.ToSlice[float32](p.got)), torch.Must(torch.ToSlice[float32](p.want))
			if !slices.Equal(g, w) || slices.Equal(g, make([]float32, len(g))) {
				t.Errorf("%s after two training batches: scripted %v, Go %v", p.name, g, w)
			}
		}
		if n := torch.Must(bn.NumBatchesTracked.ItemInt64()); n != 2 {
			t.Errorf("num_batches_tracked %d after two training batches, want 2", n)
		}

		nn.SetTraining(goNet, false)
		if err := sm.SetTraining(false); err != nil {
			return err
		}
		forward("eval", 7)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// unscriptable is a module without TorchScript.
type unscriptable struct{}

func (unscriptable) Forward(x *torch.Tensor) (*torch.Tensor, error) { return x, nil }

func TestScriptRefusesModuleWithoutTorchScript(t *testing.T) {
	seq := nn.NewSequential(nn.ReLU{}, unscriptable{})
	sm, err := nn.Script(seq)
	if err == nil {
		sm.Free()
		t.Fatal("scripted a module without TorchScript")
	}
	if !strings.Contains(err.Error(), "model.1") || !strings.Contains(err.Error(), "unscriptable") {
		t.Errorf("error %q does not name the module (model.1, unscriptable)", err)
	}
}

// TestSaveTorchScript saves a network in training mode and loads the file:
// it is in evaluation mode, computes what the network does in evaluation
// mode, and the network is still in training mode. Nothing else is left in
// the folder.
func TestSaveTorchScript(t *testing.T) {
	net := scriptTestNet(t)
	defer nn.Free(net)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.pt")
	if err := nn.SaveTorchScript(path, net); err != nil {
		t.Fatal(err)
	}
	testdir.AssertOnly(t, dir, "model.pt")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", st, err)
	}
	sm, err := torch.LoadScript(path, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Free()
	err = torch.WithScope(func() error {
		x, err := torch.Randn([]int64{2, 3, 4, 4}, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		got := torch.Must(torch.ToSlice[float32](torch.Must(sm.Forward(x))))
		bn := net.Layers[1].(*nn.BatchNorm2d)
		// Still training: the forward counts a batch.
		torch.Must(net.Forward(x))
		if n := torch.Must(bn.NumBatchesTracked.ItemInt64()); n != 1 {
			t.Errorf("the saved network counted %d batches in a forward, want 1: export changed its mode", n)
		}
		torch.Must(0, bn.RunningMean.Fill_(0))
		torch.Must(0, bn.RunningVar.Fill_(1))
		nn.SetTraining(net, false)
		want := torch.Must(torch.ToSlice[float32](torch.Must(net.Forward(x))))
		if !slices.Equal(got, want) {
			t.Errorf("loaded file computes %v, the network in eval mode %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSaveTorchScriptDiskFull saves onto a tmpfs too small for the file.
// Before, libtorch wrote the file itself and threw from a destructor when
// the disk filled, aborting the process and leaving its temporary file.
// Now it is an error that says so, the old file stays, and nothing else is
// left behind.
func TestSaveTorchScriptDiskFull(t *testing.T) {
	dir := testdir.SmallTmpfs(t, 16<<10)
	path := filepath.Join(dir, "model.pt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	lin, err := nn.NewLinear(100, 100, true) // 40 KB of weights
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(lin)
	err = nn.SaveTorchScript(path, lin)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want ENOSPC naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("old file now holds %d bytes", len(b))
	}
	testdir.AssertOnly(t, dir, "model.pt")
}

// TestScriptGELUInPyTorch exports a network with GELU and loads it with
// torch.jit.load: PyTorch sees a GELU submodule and computes the Go
// network's output.
func TestScriptGELUInPyTorch(t *testing.T) {
	pyref.Require(t, "torch")
	a, err := nn.NewLinear(4, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nn.NewLinear(3, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	net := nn.NewSequential(a, nn.GELU{}, b)
	defer nn.Free(net)
	path := filepath.Join(t.TempDir(), "gelu.pt")
	if err := nn.SaveTorchScript(path, net); err != nil {
		t.Fatal(err)
	}
	x := []float32{-2, -0.5, 0, 0.5, 1, 2, -1, 3}
	var want []float32
	err = torch.WithScope(func() error {
		y, err := net.Forward(torch.Must(torch.FromSlice(x, 2, 4)))
		if err != nil {
			return err
		}
		want, err = torch.ToSlice[float32](y)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"path": path, "x": x})
	cmd := exec.Command(pyref.Python, "-c", `
import json, sys, torch
a = json.load(sys.stdin)
m = torch.jit.load(a["path"])
y = m(torch.tensor(a["x"]).reshape(2, 4))
json.dump({"gelu": getattr(m, "1").original_name, "y": y.flatten().tolist()}, sys.stdout)
`)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("torch.jit.load: %v", err)
	}
	var got struct {
		GELU string
		Y    []float64
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.GELU != "GELU" || len(got.Y) != len(want) {
		t.Fatalf("PyTorch loaded submodule 1 as %q with %d outputs, want GELU and %d", got.GELU, len(got.Y), len(want))
	}
	for i := range want {
		if math.Abs(got.Y[i]-float64(want[i])) > 1e-6 {
			t.Errorf("output %d: PyTorch %v, Go %v", i, got.Y[i], want[i])
		}
	}
}
