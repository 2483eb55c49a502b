package nn

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gotrain/internal/atomicfile"
	"gotrain/torch"
)

// Scripter is a module that can describe its forward pass in TorchScript,
// for export; every module of this package is one. Its source may call its
// children through ChildRef, and read self.training, which every scripted
// module has, to differ between training and evaluation as PyTorch's
// modules do.
type Scripter interface {
	// TorchScript returns the class name and the source of forward.
	TorchScript() (class, source string)
}

// Script builds a TorchScript module mirroring m, like torch.jit.script of
// m's PyTorch twin: the same module tree and names, sharing m's parameters
// and buffers, each module with a training flag and the forward of its
// TorchScript source. Every module starts in evaluation mode, whatever m's
// mode; SetTraining(true) switches the tree to training, where BatchNorm2d
// updates the (shared) running statistics and Dropout drops. The caller
// frees the result.
func Script(m Module) (*torch.ScriptModule, error) {
	return script(m, "model", nil, func(t *torch.Tensor) (*torch.Tensor, error) { return t, nil })
}

// SaveTorchScript writes m to path as a TorchScript file for Python's
// torch.jit.load, as torch.jit.save(torch.jit.script(twin).eval(), path)
// would for m's PyTorch twin (see Script). The module is in evaluation
// mode: call train() after loading it to fine-tune. Its tensors are on the
// CPU whatever m's device (copies are made for the file; m is left as it
// is). The file appears whole or not at all (internal/atomicfile).
func SaveTorchScript(path string, m Module) error {
	return torch.WithScope(func() error {
		sm, err := script(m, "model", nil, onCPU)
		if err != nil {
			return err
		}
		defer sm.Free()
		return atomicfile.Write(path, sm.Save)
	})
}

// onCPU returns t if it is on the CPU, else a CPU copy (owned by the
// current scope) that requires grad as t does.
func onCPU(t *torch.Tensor) (*torch.Tensor, error) {
	if t.Device().Type == torch.CPUType {
		return t, nil
	}
	var c *torch.Tensor
	err := torch.NoGrad(func() error {
		var err error
		c, err = t.To(torch.CPU, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.RequiresGrad() {
		if err := c.SetRequiresGrad(true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// script builds the TorchScript module of m, found at path in the tree,
// registering tensor(t) for each of its tensors t.
func script(m Module, path string, root *torch.ScriptModule, tensor func(*torch.Tensor) (*torch.Tensor, error)) (*torch.ScriptModule, error) {
	s, ok := m.(Scripter)
	if !ok {
		return nil, fmt.Errorf("nn: script %s: module %T cannot be exported to TorchScript (it has no TorchScript method)", path, m)
	}
	class, src := s.TorchScript()
	sm, err := torch.NewScriptModule("__torch__."+class, root)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*torch.ScriptModule, error) {
		sm.Free()
		return nil, fmt.Errorf("nn: script %s: %w", path, err)
	}
	// As in PyTorch, training is each module's first attribute.
	if err := sm.RegisterBool("training", false); err != nil {
		return fail(err)
	}
	register := func(ts []NamedTensor, buffer bool) error {
		for _, nt := range ts {
			t, err := tensor(nt.Tensor)
			if err != nil {
				return fmt.Errorf("%s: %w", nt.Name, err)
			}
			if err := sm.Register(nt.Name, t, buffer); err != nil {
				return err
			}
		}
		return nil
	}
	if h, ok := m.(Holder); ok {
		if err := register(h.Parameters(), false); err != nil {
			return fail(err)
		}
		if err := register(h.Buffers(), true); err != nil {
			return fail(err)
		}
	}
	if p, ok := m.(Parent); ok {
		for _, c := range p.Children() {
			r := root
			if r == nil {
				r = sm
			}
			child, err := script(c.Module, path+"."+c.Name, r, tensor)
			if err != nil {
				sm.Free()
				return nil, err
			}
			err = sm.RegisterModule(c.Name, child)
			child.Free()
			if err != nil {
				return fail(err)
			}
		}
	}
	if err := sm.Define(src); err != nil {
		return fail(err)
	}
	return sm, nil
}

// ChildRef is how TorchScript source calls the forward of the child called
// name: self.name.forward, or getattr(self, "0").forward for names that are
// not identifiers. (Modules defined from C++ source know their children only
// as objects, so the call names forward explicitly.)
func ChildRef(name string) string {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return fmt.Sprintf("getattr(self, %q).forward", name)
	}
	return "self." + name + ".forward"
}

// scriptInts formats v as a TorchScript int list.
func scriptInts(v [2]int64) string { return fmt.Sprintf("[%d, %d]", v[0], v[1]) }

// scriptFloat formats v as a TorchScript float literal: whole numbers get a
// ".0" (TorchScript takes 1 for an int, which a float argument refuses),
// and infinities and NaN become float("inf"), float("-inf") and
// float("nan").
func scriptFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return `float("nan")`
	case math.IsInf(v, 1):
		return `float("inf")`
	case math.IsInf(v, -1):
		return `float("-inf")`
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// scriptBias is how forward passes an optional bias.
func scriptBias(b *torch.Tensor) string {
	if b == nil {
		return "None"
	}
	return "self.bias"
}

// Every module of this package exports to TorchScript.
var _ = []Scripter{(*Conv2d)(nil), (*BatchNorm2d)(nil), (*Linear)(nil), ReLU{}, GELU{}, (*Dropout)(nil),
	AdaptiveAvgPool2d{}, Flatten{}, (*Sequential)(nil), (*Ensemble)(nil)}
