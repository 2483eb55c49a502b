package optim

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"gotrain/internal/pyref"
)

// onecycleStateReference builds torch's OneCycleLR over an SGD of two
// parameter groups, steps it, and reports its state_dict (less the
// annealing function) and the optimizer's param_groups.
const onecycleStateReference = `
import json, sys, torch
out = []
for c in json.load(sys.stdin):
    ps = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    opt = torch.optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "weight_decay": 0.0}], lr=0.1, momentum=0.9, weight_decay=5e-4)
    s = torch.optim.lr_scheduler.OneCycleLR(opt, **c["kwargs"])
    for _ in range(c["steps"]):
        opt.step()
        s.step()
    sd = s.state_dict()
    sd.pop("anneal_func", None)
    for ph in sd["_schedule_phases"]:
        ph["end_step_is_float"] = isinstance(ph["end_step"], float)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]]
    out.append({"sched": sd, "groups": groups})
json.dump(out, sys.stdout)
`

// TestOneCycleLRPyTorchStateDict checks StateDict and GroupState
// against the state_dict of PyTorch's OneCycleLR and the keys it puts in its
// optimizer's parameter groups, after some steps, for the two- and
// three-phase schedules with and without momentum cycling; and that
// LoadStateDict takes PyTorch's position and refuses another cycle.
func TestOneCycleLRPyTorchStateDict(t *testing.T) {
	pyref.Require(t, "torch")
	twoPhase := DefaultOneCycleLRConfig(0.05, 3, 7)
	three := DefaultOneCycleLRConfig(0.1, 0, 0)
	three.TotalSteps, three.ThreePhase, three.AnnealStrategy = 30, true, "linear"
	noMom := DefaultOneCycleLRConfig(0.05, 2, 10)
	noMom.CycleMomentum = false
	cases := []struct {
		cfg   OneCycleLRConfig
		steps int
	}{{twoPhase, 0}, {twoPhase, 9}, {twoPhase, 21}, {three, 17}, {noMom, 4}}
	var in []map[string]any
	for _, c := range cases {
		in = append(in, map[string]any{"kwargs": torchOneCycleKwargs(c.cfg), "steps": c.steps})
	}
	data, _ := json.Marshal(in)
	cmd := exec.Command(pyref.Python, "-c", onecycleStateReference)
	cmd.Stdin = strings.NewReader(string(floatifyPct(data)))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var want []struct {
		Sched struct {
			TotalSteps int `json:"total_steps"`
			Phases     []struct {
				EndStep       float64 `json:"end_step"`
				IsFloat       bool    `json:"end_step_is_float"`
				StartLR       string  `json:"start_lr"`
				EndLR         string  `json:"end_lr"`
				StartMomentum string  `json:"start_momentum"`
				EndMomentum   string  `json:"end_momentum"`
			} `json:"_schedule_phases"`
			CycleMomentum bool      `json:"cycle_momentum"`
			UseBeta1      bool      `json:"use_beta1"`
			BaseLRs       []float64 `json:"base_lrs"`
			LastEpoch     int       `json:"last_epoch"`
			StepCount     int       `json:"_step_count"`
			LastLR        []float64 `json:"_last_lr"`
		}
		Groups []map[string]any
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		s, err := NewOneCycleLR(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range c.steps {
			if err := s.Step(); err != nil {
				t.Fatal(err)
			}
		}
		w := want[i].Sched
		got, err := decodeSchedState(s.StateDict(2))
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalSteps != w.TotalSteps || got.LastEpoch != w.LastEpoch || w.StepCount != w.LastEpoch+1 ||
			got.CycleMomentum != w.CycleMomentum || w.UseBeta1 || !reflect.DeepEqual(got.BaseLRs, w.BaseLRs) ||
			!closeAll(got.LastLR, w.LastLR) || len(got.Phases) != len(w.Phases) {
			t.Fatalf("case %d: %+v\nPyTorch %+v", i, got, w)
		}
		for j, ph := range got.Phases {
			wp := w.Phases[j]
			if ph != (phaseState{wp.EndStep, wp.StartLR, wp.EndLR, wp.StartMomentum, wp.EndMomentum}) {
				t.Errorf("case %d phase %d: %+v, PyTorch %+v", i, j, ph, wp)
			}
			// The last phase ends at total_steps-1, a Python int.
			if wp.IsFloat != (j < len(got.Phases)-1) {
				t.Errorf("case %d phase %d: end_step is float: %v", i, j, wp.IsFloat)
			}
		}
		gs := s.GroupState()
		for j, g := range want[i].Groups {
			wantG := map[string]any{"initial_lr": gs.InitialLR, "max_lr": gs.MaxLR, "min_lr": gs.MinLR, "lr": s.GetLastLR()}
			if m, ok := s.Momentum(s.LastStep()); ok {
				wantG["max_momentum"], wantG["base_momentum"], wantG["momentum"] = gs.MaxMomentum, gs.BaseMomentum, m
			} else if _, ok := g["max_momentum"]; ok {
				t.Errorf("case %d group %d: PyTorch set max_momentum without cycling momentum", i, j)
			}
			for k, v := range wantG {
				if f, ok := g[k].(float64); !ok || !relClose(f, v.(float64), 1e-15) {
					t.Errorf("case %d group %d: %s = %v, PyTorch %v", i, j, k, v, g[k])
				}
			}
		}

		// Loading PyTorch's position into a fresh scheduler.
		r, _ := NewOneCycleLR(c.cfg)
		if err := r.LoadStateDict(s.StateDict(2)); err != nil || r.LastStep() != c.steps {
			t.Errorf("case %d: LoadStateDict: %v, last step %d", i, err, r.LastStep())
		}
	}
	s, _ := NewOneCycleLR(twoPhase)
	other := DefaultOneCycleLRConfig(0.05, 3, 8)
	o, _ := NewOneCycleLR(other)
	if err := s.LoadStateDict(o.StateDict(1)); err == nil || !strings.Contains(err.Error(), "total_steps") {
		t.Errorf("state of another cycle: %v", err)
	}
	bad := s.pyTorchState(1)
	bad.BaseLRs[0] *= 2
	bad.LastEpoch = 3
	if err := s.loadPyTorchState(bad); err == nil || s.LastStep() != 0 {
		t.Errorf("other initial lr: %v, last step %d", err, s.LastStep())
	}
}

// closeAll reports whether a and b are equally long and equal to within
// 1e-15 relative: learning rates computed with Go's math.Cos may differ from
// PyTorch's (the C library's cos) in the last bit.
func closeAll(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !relClose(a[i], b[i], 1e-15) {
			return false
		}
	}
	return true
}
