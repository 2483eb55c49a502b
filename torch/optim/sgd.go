// Package optim holds optimizers that update parameters from their
// gradients and the learning-rate schedulers that drive them (PyTorch's
// torch.optim and torch.optim.lr_scheduler), with the exact arithmetic of
// their PyTorch counterparts.
package optim

import (
	"fmt"
	"strconv"

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

// SGD is torch.optim.SGD over one parameter group. LR and Momentum may be
// changed between steps (as a scheduler does).
type SGD struct {
	SGDConfig
	params []nn.NamedTensor
	bufs   []*torch.Tensor // momentum buffers, nil until first used
}

// NewSGD returns an SGD optimizer over params, checking the configuration
// as torch.optim.SGD does.
func NewSGD(params []nn.NamedTensor, c SGDConfig) (*SGD, error) {
	switch {
	case c.LR < 0:
		return nil, fmt.Errorf("optim: invalid learning rate %v", c.LR)
	case c.Momentum < 0:
		return nil, fmt.Errorf("optim: invalid momentum %v", c.Momentum)
	case c.WeightDecay < 0:
		return nil, fmt.Errorf("optim: invalid weight_decay %v", c.WeightDecay)
	case c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0):
		return nil, fmt.Errorf("optim: nesterov momentum requires a momentum and zero dampening")
	}
	return &SGD{SGDConfig: c, params: params, bufs: make([]*torch.Tensor, len(params))}, nil
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

// Step updates every parameter that has a gradient, as torch.optim.SGD.step:
//
//	d = grad + weight_decay*p
//	buf = d (first step), else buf = momentum*buf + (1-dampening)*d
//	d = d + momentum*buf (nesterov), else d = buf
//	p = p - lr*d
//
// Like PyTorch's multi-tensor ("foreach") implementation, each line runs
// once over the list of all such parameters, so on CUDA a step is a handful
// of fused kernels however many parameters the model has.
func (o *SGD) Step() error {
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		var idx []int // indices into o.params of the parameters with a gradient
		var ps, grads []*torch.Tensor
		for i, p := range o.params {
			g, err := p.Tensor.Grad()
			if err != nil {
				return fmt.Errorf("gradient of %s: %w", p.Name, err)
			}
			if g != nil {
				idx, ps, grads = append(idx, i), append(ps, p.Tensor), append(grads, g)
			}
		}
		if len(ps) == 0 {
			return nil
		}
		d := grads
		var err error
		if o.WeightDecay != 0 {
			if d, err = torch.ForeachAdd(grads, ps, o.WeightDecay); err != nil {
				return err
			}
		}
		if o.Momentum != 0 {
			if d, err = o.momentum(idx, d); err != nil {
				return err
			}
		}
		return torch.ForeachAdd_(ps, d, -o.LR)
	})
	if err != nil {
		return fmt.Errorf("optim: SGD step: %w", err)
	}
	return nil
}

// momentum updates the buffers of the parameters idx with their steps d
// and returns the steps to take: the buffers, or d + momentum*buffers with
// Nesterov momentum.
func (o *SGD) momentum(idx []int, d []*torch.Tensor) ([]*torch.Tensor, error) {
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
	if err := torch.ForeachMulScalar_(old, o.Momentum); err != nil {
		return nil, err
	}
	if err := torch.ForeachAdd_(old, oldD, 1-o.Dampening); err != nil {
		return nil, err
	}
	if o.Nesterov {
		return torch.ForeachAdd(d, bufs, o.Momentum)
	}
	return bufs, nil
}

// State returns the momentum buffers named as in PyTorch's optimizer
// state_dict ("<index>.momentum_buffer"), for checkpoints. Parameters that
// have had no step yet have no entry. The tensors are the optimizer's own.
func (o *SGD) State() []nn.NamedTensor {
	var out []nn.NamedTensor
	for i, b := range o.bufs {
		if b != nil {
			out = append(out, nn.NamedTensor{Name: strconv.Itoa(i) + ".momentum_buffer", Tensor: b})
		}
	}
	return out
}

// LoadState restores momentum buffers saved by State, copying them to the
// device and dtype of their parameters (as torch.optim's load_state_dict
// does).
func (o *SGD) LoadState(state []nn.NamedTensor) error {
	s := torch.NewScope()
	defer s.Close()
	for _, e := range state {
		var i int
		if _, err := fmt.Sscanf(e.Name, "%d.momentum_buffer", &i); err != nil || i < 0 || i >= len(o.params) {
			return fmt.Errorf("optim: unknown SGD state entry %q", e.Name)
		}
		p := o.params[i]
		if got, want := fmt.Sprint(e.Tensor.Shape()), fmt.Sprint(p.Tensor.Shape()); got != want {
			return fmt.Errorf("optim: momentum buffer %d has shape %s, parameter %s has %s", i, got, p.Name, want)
		}
		buf, err := e.Tensor.To(p.Tensor.Device(), false)
		if err == nil {
			buf, err = buf.ToDType(p.Tensor.DType())
		}
		if err == nil {
			buf, err = buf.Clone()
		}
		if err != nil {
			return fmt.Errorf("optim: loading momentum buffer %d: %w", i, err)
		}
		o.bufs[i].Free()
		o.bufs[i] = torch.Keep(buf)
	}
	return nil
}

// Free releases the optimizer's state.
func (o *SGD) Free() {
	for i, b := range o.bufs {
		b.Free()
		o.bufs[i] = nil
	}
}
