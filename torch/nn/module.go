// Package nn holds neural-network modules with PyTorch's names, parameter
// layouts and default initialisation (Conv2d, BatchNorm2d, Linear, ...), and
// the functions that walk a module tree: named parameters and buffers in
// PyTorch's state_dict order, train/eval mode, device moves and freeing.
// Each module also gives its forward in TorchScript (Scripter), from which
// Script and SaveTorchScript build the module tree Python's torch.jit.load
// reads.
package nn

import (
	"fmt"

	"gotrain/torch"
)

// Module is anything with a forward pass. Modules that hold tensors, have
// children or behave differently in training also implement Holder, Parent
// or ModeSetter; the functions of this package find them through those.
type Module interface {
	Forward(x *torch.Tensor) (*torch.Tensor, error)
}

// NamedTensor is a parameter or buffer and its name.
type NamedTensor = torch.NamedTensor

// Holder is a module with tensors of its own (not its children's), listed in
// registration order as PyTorch would register them.
type Holder interface {
	Parameters() []NamedTensor
	Buffers() []NamedTensor
}

// Child is a named submodule.
type Child struct {
	Name   string
	Module Module
}

// Parent is a module with submodules, in registration order.
type Parent interface {
	Children() []Child
}

// ModeSetter is a module whose forward differs between training and
// evaluation mode (PyTorch's Module.train(mode) sets it).
type ModeSetter interface {
	SetTraining(training bool)
}

// Walk calls f for m and every module under it, in PyTorch's named_modules
// order (pre-order), with dotted names ("" for m itself) and depths (0 for m).
func Walk(m Module, f func(name string, depth int, m Module) error) error {
	return walk(m, "", 0, f)
}

func walk(m Module, name string, depth int, f func(string, int, Module) error) error {
	if err := f(name, depth, m); err != nil {
		return err
	}
	if p, ok := m.(Parent); ok {
		for _, c := range p.Children() {
			if err := walk(c.Module, join(name, c.Name), depth+1, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// collect lists m's parameters, buffers or both, with dotted names. With
// unique, a tensor reached again under another name (a module or tensor
// used twice) is left out, as PyTorch's named_parameters and named_buffers
// leave it out; state_dict keeps it.
func collect(m Module, params, buffers, unique bool) []NamedTensor {
	var out []NamedTensor
	seen := make(map[*torch.Tensor]bool)
	add := func(prefix string, ts []NamedTensor) {
		for _, t := range ts {
			if unique {
				if seen[t.Tensor] {
					continue
				}
				seen[t.Tensor] = true
			}
			out = append(out, NamedTensor{Name: join(prefix, t.Name), Tensor: t.Tensor})
		}
	}
	_ = Walk(m, func(name string, _ int, m Module) error {
		h, ok := m.(Holder)
		if !ok {
			return nil
		}
		if params {
			add(name, h.Parameters())
		}
		if buffers {
			add(name, h.Buffers())
		}
		return nil
	})
	return out
}

// NamedParameters returns m's parameters with PyTorch's dotted names, in
// the order of torch.nn.Module.named_parameters. Like it, it lists a
// parameter that m reaches more than once (a module or tensor used in two
// places) once, under the first name, so that an optimizer updates it once.
func NamedParameters(m Module) []NamedTensor { return collect(m, true, false, true) }

// NamedBuffers returns m's buffers with PyTorch's dotted names, each buffer
// once, as NamedParameters lists parameters.
func NamedBuffers(m Module) []NamedTensor { return collect(m, false, true, true) }

// StateDict returns m's parameters and buffers in the key order of PyTorch's
// state_dict(): each module's parameters, then its buffers, then its children.
// Like state_dict(), it lists a tensor that m reaches more than once under
// each of its names. The tensors are m's own, not copies.
func StateDict(m Module) []NamedTensor { return collect(m, true, true, false) }

// Parameters returns m's parameters without names.
func Parameters(m Module) []*torch.Tensor {
	ps := NamedParameters(m)
	out := make([]*torch.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Tensor
	}
	return out
}

// NumParameters returns the total number of parameter elements of m,
// counting a shared parameter once.
func NumParameters(m Module) int64 {
	var n int64
	for _, p := range NamedParameters(m) {
		n += p.Tensor.Numel()
	}
	return n
}

// NumTrainableParameters returns the number of values in m's parameters
// that require grad (torchinfo's "Trainable params").
func NumTrainableParameters(m Module) int64 {
	var n int64
	for _, p := range NamedParameters(m) {
		if p.Tensor.RequiresGrad() {
			n += p.Tensor.Numel()
		}
	}
	return n
}

// SetTraining puts m and every module under it in training (true) or
// evaluation (false) mode, like Module.train(mode).
func SetTraining(m Module, training bool) {
	_ = Walk(m, func(_ string, _ int, m Module) error {
		if t, ok := m.(ModeSetter); ok {
			t.SetTraining(training)
		}
		return nil
	})
}

// To moves every parameter and buffer of m to dev in place, like Module.to.
func To(m Module, dev torch.Device) error {
	for _, nt := range StateDict(m) {
		if nt.Tensor.Device() == dev {
			continue
		}
		moved, err := nt.Tensor.To(dev, false)
		if err != nil {
			return fmt.Errorf("nn: moving %s to %v: %w", nt.Name, dev, err)
		}
		err = nt.Tensor.SetData(moved)
		moved.Free()
		if err != nil {
			return fmt.Errorf("nn: moving %s to %v: %w", nt.Name, dev, err)
		}
	}
	return nil
}

// Free releases every parameter and buffer of m.
func Free(m Module) {
	for _, nt := range StateDict(m) {
		nt.Tensor.Free()
	}
}

// ZeroGrad drops the gradients of m's parameters (set_to_none=True).
func ZeroGrad(m Module) error {
	for _, p := range NamedParameters(m) {
		if err := p.Tensor.ZeroGrad(); err != nil {
			return fmt.Errorf("nn: zero_grad %s: %w", p.Name, err)
		}
	}
	return nil
}

// ForwardHook observes a module's forward pass: its input and output.
type ForwardHook func(m Module, in, out *torch.Tensor)

var hooks []ForwardHook

// WithForwardHook runs f with hook called after each forward that a
// container (Sequential or a network's own Forward) makes through Call.
// It is meant for tracing a network (summaries) from one goroutine.
func WithForwardHook(hook ForwardHook, f func() error) error {
	hooks = append(hooks, hook)
	defer func() { hooks = hooks[:len(hooks)-1] }()
	return f()
}

// Call runs m's forward on x and reports it to the forward hooks; containers
// call their children through it, as PyTorch's Module.__call__ does.
func Call(m Module, x *torch.Tensor) (*torch.Tensor, error) {
	y, err := m.Forward(x)
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		h(m, x, y)
	}
	return y, nil
}

// SplitDecay splits m's parameters (NamedParameters, in its order) into
// those that weight decay should apply to and those it should not, the
// common PyTorch recipe: every parameter of a BatchNorm2d and every bias
// goes to noDecay, the other weights to decay.
func SplitDecay(m Module) (decay, noDecay []NamedTensor) {
	exempt := make(map[*torch.Tensor]bool)
	_ = Walk(m, func(_ string, _ int, m Module) error {
		h, ok := m.(Holder)
		if !ok {
			return nil
		}
		_, bn := m.(*BatchNorm2d)
		for _, p := range h.Parameters() {
			if bn || p.Name == "bias" {
				exempt[p.Tensor] = true
			}
		}
		return nil
	})
	for _, p := range NamedParameters(m) {
		if exempt[p.Tensor] {
			noDecay = append(noDecay, p)
		} else {
			decay = append(decay, p)
		}
	}
	return decay, noDecay
}
