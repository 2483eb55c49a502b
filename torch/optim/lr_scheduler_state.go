package optim

import (
	"errors"
	"fmt"

	"gotrain/torch/ptfile"
)

// StateDict returns the scheduler's state as PyTorch 2.x's
// torch.optim.lr_scheduler.OneCycleLR.state_dict() holds it over an
// optimizer with the given number of parameter groups, for a torch.save
// file that PyTorch's load_state_dict reads (PyTorch 1.13 holds the
// annealing method itself as anneal_func, which no weights-only file can;
// its load_state_dict keeps the one its scheduler was built with):
//
//	{"total_steps": n, "_schedule_phases": [{"end_step": ..., "start_lr":
//	 "initial_lr", ...}, ...], "cycle_momentum": ..., "use_beta1": False,
//	 "base_lrs": [...], "last_epoch": k, "verbose": False, "_step_count":
//	 k+1, "_get_lr_called_within_step": False, "_last_lr": [...],
//	 "_anneal_func_type": "cos"}
//
// The keys the scheduler keeps in its optimizer's groups are in the
// optimizer's state_dict (SGD.StateDict).
func (s *OneCycleLR) StateDict(groups int) *ptfile.Dict {
	sd := s.pyTorchState(groups)
	var phases ptfile.List
	for i, ph := range sd.Phases {
		var end any = ph.EndStep
		if i == len(sd.Phases)-1 { // total_steps - 1, a Python int
			end = int64(ph.EndStep)
		}
		phases = append(phases, ptfile.NewDict("end_step", end, "start_lr", ph.StartLR, "end_lr", ph.EndLR,
			"start_momentum", ph.StartMomentum, "end_momentum", ph.EndMomentum))
	}
	return ptfile.NewDict("total_steps", sd.TotalSteps, "_schedule_phases", &phases, "cycle_momentum", sd.CycleMomentum,
		"use_beta1", false, "base_lrs", ptfile.NewList(sd.BaseLRs), "last_epoch", sd.LastEpoch, "verbose", false,
		"_step_count", sd.LastEpoch+1, "_get_lr_called_within_step", false, "_last_lr", ptfile.NewList(sd.LastLR),
		"_anneal_func_type", sd.AnnealStrategy)
}

// LoadStateDict moves the scheduler to the step recorded in d, a
// state_dict of OneCycleLR as PyTorch 1.13 or 2.x writes it (less 1.13's
// anneal_func) or StateDict does, as PyTorch's load_state_dict on a
// scheduler constructed with the same arguments: d must describe this
// scheduler's cycle (total steps, phases, annealing, momentum cycling and
// initial learning rates), or it is refused with an error naming the
// difference. On error the scheduler is unchanged.
func (s *OneCycleLR) LoadStateDict(d *ptfile.Dict) error {
	sd, err := decodeSchedState(d)
	if err != nil {
		return fmt.Errorf("load OneCycleLR state: %w", err)
	}
	return s.loadPyTorchState(*sd)
}

// decodeSchedState reads OneCycleLR.state_dict().
func decodeSchedState(d *ptfile.Dict) (*schedState, error) {
	if d == nil {
		return nil, errors.New("no state")
	}
	r := ptfile.NewFields(d)
	sd := &schedState{
		TotalSteps:    r.Int("total_steps"),
		CycleMomentum: r.Bool("cycle_momentum"),
		BaseLRs:       r.Floats("base_lrs"),
		LastEpoch:     r.Int("last_epoch"),
		LastLR:        r.Floats("_last_lr"),
	}
	if _, ok := d.Get("_anneal_func_type"); ok {
		sd.AnnealStrategy = r.String("_anneal_func_type")
	}
	if r.OptBool("use_beta1") {
		return nil, errors.New("use_beta1 is set: the scheduler drove an optimizer with betas, not SGD")
	}
	pv, _ := d.Get("_schedule_phases")
	pl, ok := pv.(*ptfile.List)
	if !ok && r.Err() == nil {
		return nil, fmt.Errorf("_schedule_phases is not a list (%s)", ptfile.DescribeValue(pv))
	}
	if ok {
		for i, phv := range *pl {
			pd, ok := phv.(*ptfile.Dict)
			if !ok {
				return nil, fmt.Errorf("_schedule_phases[%d] is not a dict", i)
			}
			p := ptfile.NewFields(pd)
			sd.Phases = append(sd.Phases, phaseState{EndStep: p.Float("end_step"),
				StartLR: p.String("start_lr"), EndLR: p.String("end_lr"),
				StartMomentum: p.String("start_momentum"), EndMomentum: p.String("end_momentum")})
			if err := p.Err(); err != nil {
				return nil, fmt.Errorf("_schedule_phases[%d]: %w", i, err)
			}
		}
	}
	return sd, r.Err()
}

// oneCycleGroupKeys are OneCycleLR's keys read from a parameter group.
type oneCycleGroupKeys struct {
	OneCycleLRGroupState
	hasMomenta bool // max_momentum and base_momentum were given
}

// groupItems returns the keys OneCycleLR keeps in each parameter group of
// its optimizer, in PyTorch's order.
func (s *OneCycleLR) groupItems() []ptfile.Item {
	gs := s.GroupState()
	d := ptfile.NewDict("initial_lr", gs.InitialLR, "max_lr", gs.MaxLR, "min_lr", gs.MinLR)
	if s.cfg.CycleMomentum {
		d.Items = append(d.Items, ptfile.NewDict("max_momentum", gs.MaxMomentum, "base_momentum", gs.BaseMomentum).Items...)
	}
	return d.Items
}

// readGroupKeys reads OneCycleLR's keys from a parameter group through r.
func readGroupKeys(d *ptfile.Dict, r *ptfile.Fields) oneCycleGroupKeys {
	var k oneCycleGroupKeys
	k.InitialLR = r.Float("initial_lr")
	k.MaxLR = r.Float("max_lr")
	k.MinLR = r.Float("min_lr")
	if _, ok := d.Get("max_momentum"); ok {
		k.hasMomenta = true
		k.MaxMomentum = r.Float("max_momentum")
		k.BaseMomentum = r.Float("base_momentum")
	}
	return k
}

// checkGroupKeys reports a parameter group whose OneCycleLR keys are not
// s's: the schedule a run continues with must be the one recorded.
func (s *OneCycleLR) checkGroupKeys(k oneCycleGroupKeys) error {
	want := s.GroupState()
	cycle := s.cfg.CycleMomentum
	got := k.OneCycleLRGroupState
	if !cycle {
		want.MaxMomentum, want.BaseMomentum = got.MaxMomentum, got.BaseMomentum
	}
	if got != want || cycle && !k.hasMomenta {
		return fmt.Errorf("OneCycleLR keys %+v (momenta given: %v), the run's schedule has %+v", got, k.hasMomenta, want)
	}
	return nil
}

// schedState is what torch.optim.lr_scheduler.OneCycleLR's
// state_dict() holds, for a checkpoint that PyTorch resumes from. Besides
// these, PyTorch's dict has use_beta1=False (SGD has momentum, not betas),
// verbose=False, _get_lr_called_within_step=False and _step_count =
// LastEpoch+1; PyTorch 1.13 also holds anneal_func, the annealing method
// itself, which 2.x replaced by the name in _anneal_func_type.
type schedState struct {
	TotalSteps     int          // total_steps
	Phases         []phaseState // _schedule_phases
	AnnealStrategy string       // _anneal_func_type: "cos" or "linear"
	CycleMomentum  bool         // cycle_momentum
	BaseLRs        []float64    // base_lrs: each group's initial_lr
	LastEpoch      int          // last_epoch: step() calls since the start
	LastLR         []float64    // _last_lr: each group's current lr
}

// phaseState is one entry of OneCycleLR's _schedule_phases: where
// the phase ends and which parameter-group keys it anneals between.
type phaseState struct {
	EndStep                    float64 // end_step
	StartLR, EndLR             string  // start_lr, end_lr: "initial_lr", "max_lr" or "min_lr"
	StartMomentum, EndMomentum string  // start_momentum, end_momentum
}

// OneCycleLRGroupState holds the keys that OneCycleLR adds to each of its
// optimizer's parameter groups (so they are in the optimizer's
// state_dict): initial_lr, max_lr and min_lr, and max_momentum and
// base_momentum when it cycles momentum.
type OneCycleLRGroupState struct {
	InitialLR, MaxLR, MinLR   float64
	MaxMomentum, BaseMomentum float64
}

// phaseStates names the phases' ends and keys as PyTorch's constructor
// lists them.
func (s *OneCycleLR) phaseStates() []phaseState {
	names := [][4]string{
		{"initial_lr", "max_lr", "max_momentum", "base_momentum"},
		{"max_lr", "min_lr", "base_momentum", "max_momentum"},
	}
	if s.cfg.ThreePhase {
		names = [][4]string{
			{"initial_lr", "max_lr", "max_momentum", "base_momentum"},
			{"max_lr", "initial_lr", "base_momentum", "max_momentum"},
			{"initial_lr", "min_lr", "max_momentum", "max_momentum"},
		}
	}
	out := make([]phaseState, len(s.phases))
	for i, ph := range s.phases {
		n := names[i]
		out[i] = phaseState{EndStep: ph.endStep, StartLR: n[0], EndLR: n[1], StartMomentum: n[2], EndMomentum: n[3]}
	}
	return out
}

// pyTorchState returns the scheduler's state as PyTorch's OneCycleLR
// over an optimizer with the given number of parameter groups holds it.
func (s *OneCycleLR) pyTorchState(groups int) schedState {
	sd := schedState{
		TotalSteps: s.total, Phases: s.phaseStates(), AnnealStrategy: s.cfg.AnnealStrategy,
		CycleMomentum: s.cfg.CycleMomentum, LastEpoch: s.lastStep,
	}
	for range groups {
		sd.BaseLRs = append(sd.BaseLRs, s.initLR)
		sd.LastLR = append(sd.LastLR, s.GetLastLR())
	}
	return sd
}

// GroupState returns the keys OneCycleLR adds to every parameter group.
func (s *OneCycleLR) GroupState() OneCycleLRGroupState {
	return OneCycleLRGroupState{InitialLR: s.initLR, MaxLR: s.cfg.MaxLR, MinLR: s.minLR,
		MaxMomentum: s.cfg.MaxMomentum, BaseMomentum: s.cfg.BaseMomentum}
}

// loadPyTorchState moves the scheduler to the step recorded in sd, as
// PyTorch's load_state_dict on a scheduler constructed with the same
// arguments: sd must describe this scheduler's cycle (total steps, phases,
// annealing, momentum cycling and initial learning rates), or it is refused
// with an error naming the difference. An empty AnnealStrategy (a PyTorch
// 1.13 state, which holds the function instead) is not checked. On error
// the scheduler is unchanged.
func (s *OneCycleLR) loadPyTorchState(sd schedState) error {
	mine := s.pyTorchState(len(sd.BaseLRs))
	switch {
	case sd.TotalSteps != mine.TotalSteps:
		return fmt.Errorf("load OneCycleLR state: total_steps %d, this schedule has %d", sd.TotalSteps, mine.TotalSteps)
	case len(sd.Phases) != len(mine.Phases):
		return fmt.Errorf("load OneCycleLR state: %d phases, this schedule has %d", len(sd.Phases), len(mine.Phases))
	case sd.AnnealStrategy != "" && sd.AnnealStrategy != mine.AnnealStrategy:
		return fmt.Errorf("load OneCycleLR state: anneal strategy %q, this schedule uses %q", sd.AnnealStrategy, mine.AnnealStrategy)
	case sd.CycleMomentum != mine.CycleMomentum:
		return fmt.Errorf("load OneCycleLR state: cycle_momentum %v, this schedule has %v", sd.CycleMomentum, mine.CycleMomentum)
	case sd.LastEpoch < 0 || sd.LastEpoch > s.total:
		return fmt.Errorf("load OneCycleLR state: last_epoch %d outside [0, %d]", sd.LastEpoch, s.total)
	}
	for i, ph := range sd.Phases {
		if ph != mine.Phases[i] {
			return fmt.Errorf("load OneCycleLR state: phase %d is %+v, this schedule's is %+v", i+1, ph, mine.Phases[i])
		}
	}
	for i, lr := range sd.BaseLRs {
		if lr != s.initLR {
			return fmt.Errorf("load OneCycleLR state: base_lrs[%d] = %v, this schedule starts at %v", i, lr, s.initLR)
		}
	}
	s.lastStep = sd.LastEpoch
	return nil
}
