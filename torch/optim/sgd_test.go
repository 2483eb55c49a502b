package optim_test

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// sgdReference runs torch.optim.SGD on a parameter p0 with the gradients
// grads (one per step) and learning rates lrs, and returns p after each step.
const sgdReference = `
import json, sys, torch
c = json.load(sys.stdin)
p = torch.nn.Parameter(torch.tensor(c["p0"], dtype=torch.float64))
opt = torch.optim.SGD([p], lr=c["lrs"][0], momentum=c["momentum"], dampening=c["dampening"],
                      weight_decay=c["weight_decay"], nesterov=c["nesterov"])
out = []
for g, lr in zip(c["grads"], c["lrs"]):
    opt.param_groups[0]["lr"] = lr
    p.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
    out.append(p.detach().tolist())
json.dump(out, sys.stdout)
`

// TestSGDMatchesPyTorch checks SGD step by step against torch.optim.SGD
// with momentum, dampening, Nesterov momentum and weight decay, and a
// learning rate that changes every step as a scheduler's does.
func TestSGDMatchesPyTorch(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skipf("skipping: /usr/bin/python3 with torch is not available: %v", err)
	}
	p0 := []float64{0.5, -1.25, 2, 0.125, -0.75}
	grads := [][]float64{
		{0.1, -0.2, 0.3, 0, 1},
		{-0.4, 0.5, 0.25, 0.75, -1},
		{0.3, 0.3, -0.3, -0.6, 0.2},
		{1, -1, 0.5, 0.05, 0},
		{-0.2, 0.1, 0, 0.4, -0.3},
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
		cmd := exec.Command("/usr/bin/python3", "-c", sgdReference)
		cmd.Stdin = strings.NewReader(string(in))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%+v: reference: %v", c, err)
		}
		var want [][]float64
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}

		p := torch.Keep(torch.Must(torch.FromSlice(p0)))
		if err := p.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		c.LR = lrs[0]
		opt, err := optim.NewSGD([]nn.NamedTensor{{Name: "p", Tensor: p}}, c)
		if err != nil {
			t.Fatal(err)
		}
		for step, g := range grads {
			// Give p the gradient g through autograd: d(sum(p*g))/dp = g.
			err := torch.WithScope(func() error {
				gt, err := torch.FromSlice(g)
				if err != nil {
					return err
				}
				prod, err := torch.Mul(p, gt)
				if err != nil {
					return err
				}
				loss, err := prod.Sum()
				if err != nil {
					return err
				}
				if err := opt.ZeroGrad(); err != nil {
					return err
				}
				if err := loss.Backward(); err != nil {
					return err
				}
				opt.LR = lrs[step]
				return opt.Step()
			})
			if err != nil {
				t.Fatal(err)
			}
			got := torch.Must(torch.ToSlice[float64](p))
			for i := range got {
				if math.Abs(got[i]-want[step][i]) > 1e-12 {
					t.Fatalf("%+v step %d: p = %v, PyTorch %v", c, step, got, want[step])
				}
			}
		}
		if n := len(opt.State()); (c.Momentum != 0) != (n == 1) {
			t.Errorf("%+v: %d momentum buffers", c, n)
		}
		opt.Free()
		p.Free()
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
