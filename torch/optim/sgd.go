// Package optim holds optimizers that update parameters from their
// gradients and the learning-rate schedulers that drive them (PyTorch's
// torch.optim and torch.optim.lr_scheduler), with the exact arithmetic of
// their PyTorch counterparts.
package optim

import (
	"fmt"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// SGDConfig are the hyper-parameters of torch.optim.SGD.
type SGDConfig struct {
	LR          float64
	Momentum    float64
	Dampening   float64
	WeightDecay float64
	Nesterov    bool
}

// ParamGroup is one parameter group of an optimizer, an entry of
// torch.optim's param_groups: parameters and the hyper-parameters used for
// them.
type ParamGroup struct {
	Params []nn.NamedTensor
	SGDConfig
}

// SGD is torch.optim.SGD over one or more parameter groups. The embedded
// SGDConfig is the first group's (param_groups[0]), so that a one-group
// optimizer is configured through it; ParamGroups gives every group. LR and
// Momentum may be changed between steps (as a scheduler does; SetLR and
// SetMomentum set them in every group).
type SGD struct {
	*SGDConfig
	groups []*ParamGroup
	params []nn.NamedTensor // all groups' parameters, in PyTorch's numbering
	bufs   []*torch.Tensor  // momentum buffers by parameter, nil until first used
}

// NewSGD returns an SGD optimizer with one parameter group, params, checking
// the configuration as torch.optim.SGD does.
func NewSGD(params []nn.NamedTensor, c SGDConfig) (*SGD, error) {
	return NewSGDGroups([]ParamGroup{{Params: params, SGDConfig: c}})
}

// NewSGDGroups returns an SGD optimizer over several parameter groups, each
// with its own hyper-parameters, as torch.optim.SGD([{"params": ...,
// "weight_decay": ...}, ...]) makes one. Parameters are numbered across the
// groups in order, as in PyTorch's state_dict. A parameter may be in only
// one group.
func NewSGDGroups(groups []ParamGroup) (*SGD, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("optim: SGD needs at least one parameter group")
	}
	o := &SGD{}
	seen := make(map[*torch.Tensor]bool)
	for i, g := range groups {
		if err := g.SGDConfig.check(); err != nil {
			if len(groups) > 1 {
				return nil, fmt.Errorf("%w (parameter group %d)", err, i)
			}
			return nil, err
		}
		for _, p := range g.Params {
			if seen[p.Tensor] {
				return nil, fmt.Errorf("optim: parameter %s appears in more than one parameter group", p.Name)
			}
			seen[p.Tensor] = true
		}
		g := g
		o.groups = append(o.groups, &g)
		o.params = append(o.params, g.Params...)
	}
	o.SGDConfig = &o.groups[0].SGDConfig
	o.bufs = make([]*torch.Tensor, len(o.params))
	return o, nil
}

// check validates c as torch.optim.SGD's constructor does.
func (c SGDConfig) check() error {
	switch {
	case c.LR < 0:
		return fmt.Errorf("optim: invalid learning rate %v", c.LR)
	case c.Momentum < 0:
		return fmt.Errorf("optim: invalid momentum %v", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("optim: invalid weight_decay %v", c.WeightDecay)
	case c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0):
		return fmt.Errorf("optim: nesterov momentum requires a momentum and zero dampening")
	}
	return nil
}

// ParamGroups returns the optimizer's parameter groups, the optimizer's own:
// changing a group's hyper-parameters changes the next step.
func (o *SGD) ParamGroups() []*ParamGroup { return o.groups }

// SetLR sets the learning rate of every parameter group, as PyTorch's
// schedulers do.
func (o *SGD) SetLR(lr float64) {
	for _, g := range o.groups {
		g.LR = lr
	}
}

// SetMomentum sets the momentum of every parameter group, as OneCycleLR
// does when it cycles momentum.
func (o *SGD) SetMomentum(m float64) {
	for _, g := range o.groups {
		g.Momentum = m
	}
}

// ZeroGrad drops every parameter's gradient (set_to_none=True).
func (o *SGD) ZeroGrad() error {
	for _, p := range o.params {
		if err := p.Tensor.ZeroGrad(); err != nil {
			return fmt.Errorf("optim: zero_grad %s: %w", p.Name, err)
		}
	}
	return nil
}

// Step updates every parameter that has a gradient, as torch.optim.SGD.step,
// with its group's hyper-parameters:
//
//	d = grad + weight_decay*p
//	buf = d (first step), else buf = momentum*buf + (1-dampening)*d
//	d = d + momentum*buf (nesterov), else d = buf
//	p = p - lr*d
//
// Like PyTorch's multi-tensor ("foreach") implementation, each line runs
// once per group over the list of all its parameters, so on CUDA a step is
// a handful of fused kernels however many parameters the model has.
func (o *SGD) Step() error {
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		first := 0 // number of the group's first parameter
		for _, g := range o.groups {
			if err := o.stepGroup(g, first); err != nil {
				return err
			}
			first += len(g.Params)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("optim: SGD step: %w", err)
	}
	return nil
}

// stepGroup updates the parameters of g, whose first parameter has number
// first.
func (o *SGD) stepGroup(g *ParamGroup, first int) error {
	var idx []int // numbers of the parameters with a gradient
	var ps, grads []*torch.Tensor
	for i, p := range g.Params {
		gr, err := p.Tensor.Grad()
		if err != nil {
			return fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
		if gr != nil {
			idx, ps, grads = append(idx, first+i), append(ps, p.Tensor), append(grads, gr)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	d := grads
	var err error
	if g.WeightDecay != 0 {
		if d, err = torch.ForeachAdd(grads, ps, g.WeightDecay); err != nil {
			return err
		}
	}
	if g.Momentum != 0 {
		if d, err = o.momentum(&g.SGDConfig, idx, d); err != nil {
			return err
		}
	}
	return torch.ForeachAdd_(ps, d, -g.LR)
}

// momentum updates the buffers of the parameters idx with their steps d,
// with the hyper-parameters c of their group, and returns the steps to take: the buffers, or d + momentum*buffers with
// Nesterov momentum.
func (o *SGD) momentum(c *SGDConfig, idx []int, d []*torch.Tensor) ([]*torch.Tensor, error) {
	var old, oldD []*torch.Tensor // existing buffers and their parameters' d
	bufs := make([]*torch.Tensor, len(idx))
	for j, i := range idx {
		if o.bufs[i] == nil { // first step: the buffer starts as d
			buf, err := d[j].Clone()
			if err != nil {
				return nil, err
			}
			o.bufs[i] = torch.Keep(buf)
		} else {
			old, oldD = append(old, o.bufs[i]), append(oldD, d[j])
		}
		bufs[j] = o.bufs[i]
	}
	if err := torch.ForeachMulScalar_(old, c.Momentum); err != nil {
		return nil, err
	}
	if err := torch.ForeachAdd_(old, oldD, 1-c.Dampening); err != nil {
		return nil, err
	}
	if c.Nesterov {
		return torch.ForeachAdd(d, bufs, c.Momentum)
	}
	return bufs, nil
}

// Free releases the optimizer's state.
func (o *SGD) Free() {
	for i, b := range o.bufs {
		b.Free()
		o.bufs[i] = nil
	}
}

// WeightDecayGroups returns the two parameter groups of the common PyTorch
// recipe for m: its weights with c's weight decay, then its BatchNorm
// parameters and biases (nn.SplitDecay) with none; both otherwise with c.
func WeightDecayGroups(m nn.Module, c SGDConfig) []ParamGroup {
	decay, noDecay := nn.SplitDecay(m)
	nd := c
	nd.WeightDecay = 0
	return []ParamGroup{{Params: decay, SGDConfig: c}, {Params: noDecay, SGDConfig: nd}}
}
