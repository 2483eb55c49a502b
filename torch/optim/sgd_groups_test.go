package optim_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// sgdGroupsReference runs torch.optim.SGD with two parameter groups of
// different hyper-parameters, setting lr and momentum of every group each
// step as a scheduler does, and returns the parameters after each step and
// the final state_dict's param_groups and state keys.
const sgdGroupsReference = `
import json, sys, torch
c = json.load(sys.stdin)
ps = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float64)) for p in c["p0"]]
groups = [dict(g, params=[ps[i] for i in g["params"]]) for g in c["groups"]]
opt = torch.optim.SGD(groups, lr=0.5)
out = []
for gs, lr, mom in zip(c["grads"], c["lrs"], c["moms"]):
    for g in opt.param_groups:
        g["lr"], g["momentum"] = lr, mom
    for p, g in zip(ps, gs):
        p.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
    opt.step()
    out.append([p.detach().tolist() for p in ps])
sd = opt.state_dict()
json.dump({"params": out, "param_groups": sd["param_groups"], "state": sorted(sd["state"])}, sys.stdout)
`

// TestSGDGroupsMatchPyTorch checks an SGD with two parameter groups (one
// with weight decay and Nesterov momentum, one without weight decay and with
// dampening) step by step against torch.optim.SGD, and its param_groups
// state against state_dict()'s: the same hyper-parameters and parameter
// numbers, and momentum buffers under the same numbers.
func TestSGDGroupsMatchPyTorch(t *testing.T) {
	pyref.Require(t, "torch")
	p0 := [][]float64{{0.5, -1.25, 2}, {1.5, -0.5}, {0.25, 0.5, -2, 1}, {3}}
	grads := [][][]float64{
		{{0.1, -0.2, 0.3}, {0.5, -0.5}, {0.2, -0.1, 0.3, 1}, nil},
		{{-0.4, 0.5, 0.25}, {0, 1}, {0.3, 0.3, -0.3, -0.6}, {0.5}},
		{{1, -1, 0.5}, nil, {-0.5, 0.4, 0.1, 0}, {-1}},
		{{-0.2, 0.1, 0}, {1, -1}, {0.3, 0.3, 0.3, 0.3}, {0.25}},
	}
	lrs := []float64{0.1, 0.05, 0.2, 0.01}
	moms := []float64{0.95, 0.9, 0.85, 0.9}
	cfgs := []optim.SGDConfig{
		{LR: 0.5, Momentum: 0.9, WeightDecay: 5e-2, Nesterov: true},
		{LR: 0.5, Momentum: 0.9, Dampening: 0.25},
	}
	members := [][]int{{0, 1}, {2, 3}}
	var pyGroups []map[string]any
	for i, c := range cfgs {
		pyGroups = append(pyGroups, map[string]any{"params": members[i], "momentum": c.Momentum,
			"dampening": c.Dampening, "weight_decay": c.WeightDecay, "nesterov": c.Nesterov})
	}
	in, _ := json.Marshal(map[string]any{"p0": p0, "grads": grads, "lrs": lrs, "moms": moms, "groups": pyGroups})
	cmd := exec.Command(pyref.Python, "-c", sgdGroupsReference)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var want struct {
		Params      [][][]float64
		ParamGroups []struct {
			LR, Momentum, Dampening float64
			WeightDecay             float64 `json:"weight_decay"`
			Nesterov                bool
			Params                  []int
		} `json:"param_groups"`
		State []int
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}

	params := leafParams(t, p0)
	var groups []optim.ParamGroup
	for i, c := range cfgs {
		var ps []nn.NamedTensor
		for _, j := range members[i] {
			ps = append(ps, params[j])
		}
		groups = append(groups, optim.ParamGroup{Params: ps, SGDConfig: c})
	}
	opt, err := optim.NewSGDGroups(groups)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	for step, gs := range grads {
		err := torch.WithScope(func() error {
			if err := opt.ZeroGrad(); err != nil {
				return err
			}
			if err := setGrads(params, gs); err != nil {
				return err
			}
			opt.SetLR(lrs[step])
			opt.SetMomentum(moms[step])
			return opt.Step()
		})
		if err != nil {
			t.Fatal(err)
		}
		assertParams(t, fmt.Sprintf("step %d", step), params, want.Params[step])
	}
	st := opt.ParamGroupsState()
	if len(st) != len(want.ParamGroups) {
		t.Fatalf("%d param groups, PyTorch %d", len(st), len(want.ParamGroups))
	}
	for i, g := range st {
		w := want.ParamGroups[i]
		wc := optim.SGDConfig{LR: w.LR, Momentum: w.Momentum, Dampening: w.Dampening, WeightDecay: w.WeightDecay, Nesterov: w.Nesterov}
		if g.SGDConfig != wc || !reflect.DeepEqual(g.Params, w.Params) {
			t.Errorf("param group %d: %+v, PyTorch %+v", i, g, w)
		}
	}
	var names []string
	for _, nt := range momentumBuffers(t, opt) {
		names = append(names, nt.Name)
	}
	var wantNames []string
	for _, i := range want.State {
		wantNames = append(wantNames, fmt.Sprintf("%d.momentum_buffer", i))
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("state %v, PyTorch's state_dict has %v", names, wantNames)
	}
	if opt.LR != lrs[len(lrs)-1] || opt.ParamGroups()[1].Momentum != moms[len(moms)-1] {
		t.Errorf("LR %v, group 1 momentum %v after SetLR/SetMomentum", opt.LR, opt.ParamGroups()[1].Momentum)
	}

	// Loading param_groups: a mismatch is refused and changes nothing.
	bad := opt.ParamGroupsState()
	bad[1].Params = []int{3, 2}
	bad[0].WeightDecay = 1
	if err := opt.LoadParamGroupsState(bad); err == nil {
		t.Error("LoadParamGroupsState accepted misnumbered parameters")
	} else if opt.WeightDecay == 1 {
		t.Error("a refused LoadParamGroupsState changed group 0")
	}
	if err := opt.LoadParamGroupsState(bad[:1]); err == nil {
		t.Error("LoadParamGroupsState accepted one group for two")
	}
	good := opt.ParamGroupsState()
	good[1].WeightDecay = 0.125
	if err := opt.LoadParamGroupsState(good); err != nil || opt.ParamGroups()[1].WeightDecay != 0.125 {
		t.Errorf("LoadParamGroupsState: %v, weight decay %v", err, opt.ParamGroups()[1].WeightDecay)
	}
	if _, err := optim.NewSGDGroups([]optim.ParamGroup{{Params: params[:2]}, {Params: params[1:]}}); err == nil {
		t.Error("NewSGDGroups accepted a parameter in two groups")
	}
}

// TestWeightDecayGroupsMatchPyTorchRecipe checks the decay / no-decay split
// of both networks against scripts/models.py's split_decay on their PyTorch
// twins, and the groups' weight decays.
func TestWeightDecayGroupsMatchPyTorchRecipe(t *testing.T) {
	pyref.Require(t, "torch")
	const script = `
import json, sys
sys.path.insert(0, "../../scripts")
import models
out = {}
for name, cls in models.NETWORKS.items():
    d, nd = models.split_decay(cls())
    out[name] = [[n for n, _ in d], [n for n, _ in nd]]
json.dump(out, sys.stdout)
`
	out, err := exec.Command(pyref.Python, "-c", script).Output()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var want map[string][2][]string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"seed", "sepnet"} {
		net, err := model.New(name, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		groups := optim.WeightDecayGroups(net, optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4})
		for i, g := range groups {
			var names []string
			for _, p := range g.Params {
				names = append(names, p.Name)
			}
			if !reflect.DeepEqual(names, want[name][i]) {
				t.Errorf("%s group %d: %v\nPyTorch recipe: %v", name, i, names, want[name][i])
			}
		}
		if groups[0].WeightDecay != 5e-4 || groups[1].WeightDecay != 0 || groups[1].Momentum != 0.9 || len(groups[1].Params) == 0 {
			t.Errorf("%s: groups %+v / %+v", name, groups[0].SGDConfig, groups[1].SGDConfig)
		}
		nn.Free(net)
	}
}
