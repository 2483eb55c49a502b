package optim_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// sgdReference runs torch.optim.SGD over parameters p0 (lists of
// different lengths) with the gradients grads (per step, per parameter;
// null for none) and learning rates lrs, and returns the parameters after
// each step.
const sgdReference = `
import json, sys, torch
c = json.load(sys.stdin)
ps = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float64)) for p in c["p0"]]
opt = torch.optim.SGD(ps, lr=c["lrs"][0], momentum=c["momentum"], dampening=c["dampening"],
                      weight_decay=c["weight_decay"], nesterov=c["nesterov"])
out = []
for gs, lr in zip(c["grads"], c["lrs"]):
    opt.param_groups[0]["lr"] = lr
    for p, g in zip(ps, gs):
        p.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
    opt.step()
    out.append([p.detach().tolist() for p in ps])
json.dump(out, sys.stdout)
`

// TestSGDMatchesPyTorch checks SGD step by step against torch.optim.SGD
// with momentum, dampening, Nesterov momentum and weight decay, a learning
// rate that changes every step as a scheduler's does, and three parameters
// of which the last has no gradient in some steps (it must then be left
// alone, its momentum buffer made only at its first gradient).
func TestSGDMatchesPyTorch(t *testing.T) {
	pyref.Require(t, "torch") // skips locally, fails under CI
	p0 := [][]float64{{0.5, -1.25, 2, 0.125, -0.75}, {1.5, -0.5}, {0.25, 0.5, -2}}
	grads := [][][]float64{
		{{0.1, -0.2, 0.3, 0, 1}, {0.5, -0.5}, nil},
		{{-0.4, 0.5, 0.25, 0.75, -1}, {0, 1}, {0.2, -0.1, 0.3}},
		{{0.3, 0.3, -0.3, -0.6, 0.2}, {-0.25, 0.75}, nil},
		{{1, -1, 0.5, 0.05, 0}, {0.1, 0.2}, {-0.5, 0.4, 0.1}},
		{{-0.2, 0.1, 0, 0.4, -0.3}, {1, -1}, {0.3, 0.3, 0.3}},
	}
	lrs := []float64{0.1, 0.05, 0.2, 0.01, 0.3}
	for _, c := range []optim.SGDConfig{
		{},
		{WeightDecay: 0.01},
		{Momentum: 0.9},
		{Momentum: 0.9, Dampening: 0.25, WeightDecay: 5e-4},
		{Momentum: 0.85, Nesterov: true, WeightDecay: 5e-4},
	} {
		in, _ := json.Marshal(map[string]any{"p0": p0, "grads": grads, "lrs": lrs, "momentum": c.Momentum,
			"dampening": c.Dampening, "weight_decay": c.WeightDecay, "nesterov": c.Nesterov})
		cmd := exec.Command(pyref.Python, "-c", sgdReference)
		cmd.Stdin = strings.NewReader(string(in))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%+v: reference: %v", c, err)
		}
		var want [][][]float64
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}

		params := leafParams(t, p0)
		c.LR = lrs[0]
		opt, err := optim.NewSGD(params, c)
		if err != nil {
			t.Fatal(err)
		}
		for step, gs := range grads {
			err := torch.WithScope(func() error {
				if err := opt.ZeroGrad(); err != nil {
					return err
				}
				if err := setGrads(params, gs); err != nil {
					return err
				}
				opt.LR = lrs[step]
				return opt.Step()
			})
			if err != nil {
				t.Fatal(err)
			}
			assertParams(t, fmt.Sprintf("%+v step %d", c, step), params, want[step])
		}
		if n := len(momentumBuffers(t, opt)); (c.Momentum != 0) != (n == len(params)) {
			t.Errorf("%+v: %d momentum buffers for %d parameters", c, n, len(params))
		}
		opt.Free()
	}
}

func TestNewSGDRejectsBadConfig(t *testing.T) {
	for _, c := range []optim.SGDConfig{
		{LR: -1}, {LR: 0.1, Momentum: -0.5}, {LR: 0.1, WeightDecay: -1},
		{LR: 0.1, Nesterov: true}, {LR: 0.1, Momentum: 0.9, Dampening: 0.1, Nesterov: true},
	} {
		if _, err := optim.NewSGD(nil, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestSGDLoadState checks that saved momentum buffers come back as copies
// in their parameter's dtype, and that mismatched entries are refused.
func TestSGDLoadState(t *testing.T) {
	w := torch.Keep(torch.Must(torch.FromSlice([]float32{1, 2, 3}, 3)))
	defer w.Free()
	opt, err := optim.NewSGD([]nn.NamedTensor{{Name: "w", Tensor: w}}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	saved := torch.Keep(torch.Must(torch.FromSlice([]float64{0.5, -1, 0.25}, 3)))
	defer saved.Free()
	entry := func(x *torch.Tensor) *ptfile.Entry { return torch.Must(x.Entry("buf")) }
	state := func(key any, e *ptfile.Entry) *ptfile.Dict {
		return ptfile.NewDict("state", ptfile.NewDict(key, ptfile.NewDict("momentum_buffer", e)))
	}
	se := entry(saved)
	if err := opt.LoadStateDict(state(int64(0), se), nil); err != nil {
		t.Fatal(err)
	}
	// A copy: changing the saved values leaves the loaded buffer alone.
	for i := range se.Data {
		se.Data[i] = 0
	}
	st := momentumBuffers(t, opt)
	if len(st) != 1 || st[0].Name != "0.momentum_buffer" {
		t.Fatalf("state %v", st)
	}
	if got := st[0].Tensor.DType(); got != torch.Float32 {
		t.Errorf("buffer dtype %v, want the parameter's float32", got)
	}
	if got := torch.Must(torch.ToSlice[float32](st[0].Tensor)); fmt.Sprint(got) != "[0.5 -1 0.25]" {
		t.Errorf("buffer %v, want [0.5 -1 0.25]", got)
	}
	bad := torch.Keep(torch.Must(torch.FromSlice([]float32{1, 2}, 2)))
	defer bad.Free()
	for _, c := range []struct {
		key any
		e   *ptfile.Entry
	}{{int64(0), entry(bad)}, {int64(1), entry(saved)}, {"x", entry(saved)}} {
		if err := opt.LoadStateDict(state(c.key, c.e), nil); err == nil {
			t.Errorf("LoadStateDict accepted %v of shape %v", c.key, c.e.Shape)
		}
	}
}
