package optim

import (
	"errors"
	"fmt"

	"gotrain/torch"
	"gotrain/torch/ptfile"
)

// StateDict returns the optimizer's state as torch.optim.SGD.state_dict()
// holds it, for a torch.save file that PyTorch's load_state_dict reads:
//
//	{"state": {i: {"momentum_buffer": t}, ...},
//	 "param_groups": [{"lr": ..., "momentum": ..., "dampening": ...,
//	   "weight_decay": ..., "nesterov": ..., "maximize": False,
//	   "foreach": None, "differentiable": False, <scheduler keys>,
//	   "params": [0, 1, ...]}, ...]}
//
// with PyTorch 1.13's keys in its order. State is keyed by parameter
// number (PyTorch's numbering, across the groups in order); a parameter
// that has taken no step with momentum has no entry. sched, when not nil,
// is the scheduler driving the optimizer: PyTorch's OneCycleLR keeps its
// keys (initial_lr, max_lr, min_lr, and max_momentum and base_momentum
// when it cycles momentum) in every group and has set each group's lr and
// momentum for the next step, so the groups hold those here too. The
// tensors are copies.
func (o *SGD) StateDict(sched *OneCycleLR) (*ptfile.Dict, error) {
	state := &ptfile.Dict{}
	for i, b := range o.bufs {
		if b == nil {
			continue
		}
		e, err := b.Entry(fmt.Sprintf("%d.%s", i, momentumBuffer))
		if err != nil {
			return nil, err
		}
		state.Items = append(state.Items, ptfile.Item{Key: int64(i), Value: ptfile.NewDict(momentumBuffer, e)})
	}
	var groups ptfile.List
	for _, g := range o.ParamGroupsState() {
		lr, mom := g.LR, g.Momentum
		if sched != nil {
			lr = sched.GetLastLR()
			if m, ok := sched.Momentum(sched.LastStep()); ok {
				mom = m
			}
		}
		d := ptfile.NewDict("lr", lr, "momentum", mom, "dampening", g.Dampening, "weight_decay", g.WeightDecay,
			"nesterov", g.Nesterov, "maximize", false, "foreach", nil, "differentiable", false)
		if sched != nil {
			d.Items = append(d.Items, sched.groupItems()...)
		}
		d.Items = append(d.Items, ptfile.Item{Key: "params", Value: ptfile.NewList(g.Params)})
		groups = append(groups, d)
	}
	return ptfile.NewDict("state", state, "param_groups", &groups), nil
}

// momentumBuffer is the key of a parameter's momentum in SGD's state.
const momentumBuffer = "momentum_buffer"

// LoadStateDict restores the optimizer's state from sd, a state_dict in
// the layout StateDict writes (torch.optim.SGD's, from PyTorch or from
// StateDict), as torch.optim's load_state_dict does: the groups'
// hyper-parameters (the groups must be the optimizer's: as many, with the
// same numbers of parameters in the same order), and the momentum buffers,
// copied to the device and dtype of their parameters. Options this SGD
// does not have (maximize, differentiable) are refused. sched, when not
// nil, is the scheduler driving the optimizer: every group must hold its
// keys with its values (the schedule continued is the one recorded). A
// state without param_groups (gotrain's first checkpoint layout) restores
// the buffers alone. On error the optimizer is unchanged.
func (o *SGD) LoadStateDict(sd *ptfile.Dict, sched *OneCycleLR) error {
	if sd == nil {
		return errors.New("optim: no SGD state")
	}
	st, _ := sd.Get("state")
	stateDict, ok := st.(*ptfile.Dict)
	if !ok {
		return fmt.Errorf("state is not a dict (%s)", ptfile.DescribeValue(st))
	}
	var groups []ParamGroupState
	if pg, ok := sd.Get("param_groups"); ok {
		l, ok := pg.(*ptfile.List)
		if !ok {
			return fmt.Errorf("param_groups is not a list (%s)", ptfile.DescribeValue(pg))
		}
		for i, gv := range *l {
			g, err := decodeGroup(gv, sched)
			if err != nil {
				return fmt.Errorf("param_groups[%d]: %w", i, err)
			}
			groups = append(groups, g)
		}
		if err := o.checkGroups(groups); err != nil {
			return err
		}
	}
	bufs, err := o.decodeBuffers(stateDict)
	if err != nil {
		return err
	}
	if groups != nil {
		o.loadGroups(groups)
	}
	for i, b := range bufs {
		if b != nil {
			o.bufs[i].Free()
			o.bufs[i] = b
		}
	}
	return nil
}

// decodeGroup reads one param_groups entry of torch.optim.SGD, with
// sched's keys if sched is not nil.
func decodeGroup(v any, sched *OneCycleLR) (ParamGroupState, error) {
	var g ParamGroupState
	d, ok := v.(*ptfile.Dict)
	if !ok {
		return g, fmt.Errorf("not a dict (%s)", ptfile.DescribeValue(v))
	}
	r := ptfile.NewFields(d)
	g.LR = r.Float("lr")
	g.Momentum = r.Float("momentum")
	g.Dampening = r.Float("dampening")
	g.WeightDecay = r.Float("weight_decay")
	g.Nesterov = r.Bool("nesterov")
	if r.OptBool("maximize") || r.OptBool("differentiable") {
		return g, errors.New("maximize and differentiable SGD are not supported")
	}
	var keys oneCycleGroupKeys
	if sched != nil {
		keys = readGroupKeys(d, r)
	}
	g.Params = r.Ints("params")
	if err := r.Err(); err != nil {
		return g, err
	}
	if sched != nil {
		return g, sched.checkGroupKeys(keys)
	}
	return g, nil
}

// decodeBuffers reads the momentum buffers of a state dict, each moved
// to its parameter's device and dtype; the result is indexed by parameter
// number, nil where the state has none. On error it frees what it made.
func (o *SGD) decodeBuffers(state *ptfile.Dict) (bufs []*torch.Tensor, err error) {
	bufs = make([]*torch.Tensor, len(o.params))
	defer func() {
		if err != nil {
			for _, b := range bufs {
				b.Free()
			}
		}
	}()
	s := torch.NewScope()
	defer s.Close()
	for _, it := range state.Items {
		idx, ok := it.Key.(int64)
		inner, _ := it.Value.(*ptfile.Dict)
		if !ok || inner == nil {
			return bufs, fmt.Errorf("state %v is not a parameter number with a dict", it.Key)
		}
		v, _ := inner.Get(momentumBuffer)
		if v == nil { // PyTorch's entry for a parameter stepped without momentum
			continue
		}
		e, ok := v.(*ptfile.Entry)
		if !ok {
			return bufs, fmt.Errorf("state %d: momentum_buffer is not a tensor", idx)
		}
		if idx < 0 || idx >= int64(len(o.params)) {
			return bufs, fmt.Errorf("optim: unknown SGD state entry %d (the optimizer has %d parameters)", idx, len(o.params))
		}
		p := o.params[idx]
		if got, want := fmt.Sprint(e.Shape), fmt.Sprint(p.Tensor.Shape()); got != want {
			return bufs, fmt.Errorf("optim: momentum buffer %d has shape %s, parameter %s has %s", idx, got, p.Name, want)
		}
		t, err := torch.FromEntry(e)
		if err == nil {
			t, err = t.To(p.Tensor.Device(), false)
		}
		if err == nil {
			t, err = t.ToDType(p.Tensor.DType())
		}
		if err == nil {
			t, err = t.Clone()
		}
		if err != nil {
			return bufs, fmt.Errorf("optim: loading momentum buffer %d: %w", idx, err)
		}
		bufs[idx].Free()
		bufs[idx] = torch.Keep(t)
	}
	return bufs, nil
}

// ParamGroupState is the part of an SGD state_dict's "param_groups" entry
// that the optimizer owns: the group's hyper-parameters and the numbers of
// its parameters (PyTorch's numbering: consecutive across the groups in
// order). PyTorch's entries also hold maximize=False, foreach=None and
// differentiable=False, which this SGD always has, and the keys a scheduler
// adds (OneCycleLR's initial_lr, max_lr, ...).
type ParamGroupState struct {
	SGDConfig
	Params []int
}

// ParamGroupsState returns the state of every parameter group, as
// state_dict()["param_groups"] lists them.
func (o *SGD) ParamGroupsState() []ParamGroupState {
	out := make([]ParamGroupState, len(o.groups))
	n := 0
	for i, g := range o.groups {
		out[i].SGDConfig = g.SGDConfig
		for range g.Params {
			out[i].Params = append(out[i].Params, n)
			n++
		}
	}
	return out
}

// LoadParamGroupsState sets every group's hyper-parameters from st, as
// torch.optim's load_state_dict does, after checking that st has the
// optimizer's groups: as many, with the same numbers of parameters in the
// same order. On error the optimizer is unchanged.
func (o *SGD) LoadParamGroupsState(st []ParamGroupState) error {
	if err := o.checkGroups(st); err != nil {
		return err
	}
	o.loadGroups(st)
	return nil
}

// checkGroups reports groups that LoadParamGroupsState would refuse.
func (o *SGD) checkGroups(st []ParamGroupState) error {
	if len(st) != len(o.groups) {
		return fmt.Errorf("optim: loaded state has %d parameter groups, the optimizer %d", len(st), len(o.groups))
	}
	n := 0
	for i, g := range st {
		if len(g.Params) != len(o.groups[i].Params) {
			return fmt.Errorf("optim: loaded parameter group %d has %d parameters, the optimizer's %d", i, len(g.Params), len(o.groups[i].Params))
		}
		for j, p := range g.Params {
			if p != n+j {
				return fmt.Errorf("optim: loaded parameter group %d numbers its parameters %v, want %d to %d", i, g.Params, n, n+len(g.Params)-1)
			}
		}
		n += len(g.Params)
		if err := g.SGDConfig.check(); err != nil {
			return fmt.Errorf("%w (loaded parameter group %d)", err, i)
		}
	}
	return nil
}

func (o *SGD) loadGroups(st []ParamGroupState) {
	for i, g := range st {
		o.groups[i].SGDConfig = g.SGDConfig
	}
}
