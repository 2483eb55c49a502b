package nn

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gotrain/torch"
)

// Scripter is a module that can describe its forward pass in TorchScript,
// for export. Its source may call its children as self.<name>(x), or
// getattr(self, "<name>")(x) for names that are not identifiers.
type Scripter interface {
	// TorchScript returns the class name and the source of forward.
	TorchScript() (class, source string)
}

// Script builds a TorchScript module mirroring m: the same module tree and
// names, sharing m's parameters and buffers, with forward defined from each
// module's TorchScript source. Save the result for Python's torch.jit.load.
// The caller frees it.
func Script(m Module) (*torch.ScriptModule, error) {
	return script(m, "model", nil)
}

func script(m Module, path string, root *torch.ScriptModule) (*torch.ScriptModule, error) {
	class, src, err := scriptSource(m)
	if err != nil {
		return nil, fmt.Errorf("nn: script %s: %w", path, err)
	}
	sm, err := torch.NewScriptModule("__torch__."+class, root)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*torch.ScriptModule, error) {
		sm.Free()
		return nil, fmt.Errorf("nn: script %s: %w", path, err)
	}
	if h, ok := m.(Holder); ok {
		for _, p := range h.Parameters() {
			if err := sm.Register(p.Name, p.Tensor, false); err != nil {
				return fail(err)
			}
		}
		for _, b := range h.Buffers() {
			if err := sm.Register(b.Name, b.Tensor, true); err != nil {
				return fail(err)
			}
		}
	}
	if p, ok := m.(Parent); ok {
		for _, c := range p.Children() {
			r := root
			if r == nil {
				r = sm
			}
			child, err := script(c.Module, path+"."+c.Name, r)
			if err != nil {
				return fail(err)
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

func ints(v [2]int64) string { return fmt.Sprintf("[%d, %d]", v[0], v[1]) }

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

// scriptSource gives the TorchScript of this package's modules, and asks
// any other module through Scripter.
func scriptSource(m Module) (class, src string, err error) {
	switch m := m.(type) {
	case *Conv2d:
		c := m.Config
		bias := "self.bias"
		if m.Bias == nil {
			bias = "None"
		}
		return "Conv2d", fmt.Sprintf("def forward(self, x):\n  return torch.conv2d(x, self.weight, %s, %s, %s, %s, %d)\n",
			bias, ints(c.Stride), ints(c.Padding), ints(c.Dilation), c.Groups), nil
	case *BatchNorm2d:
		// In eval mode, like a scripted BatchNorm2d after model.eval(); the
		// exported module is for inference.
		return "BatchNorm2d", fmt.Sprintf("def forward(self, x):\n  return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, False, %s, %s, True)\n",
			scriptFloat(m.Momentum), scriptFloat(m.Eps)), nil
	case *Linear:
		bias := "self.bias"
		if m.Bias == nil {
			bias = "None"
		}
		return "Linear", fmt.Sprintf("def forward(self, x):\n  return torch.linear(x, self.weight, %s)\n", bias), nil
	case ReLU:
		return "ReLU", "def forward(self, x):\n  return torch.relu(x)\n", nil
	case *Dropout:
		return "Dropout", "def forward(self, x):\n  return x\n", nil
	case AdaptiveAvgPool2d:
		return "AdaptiveAvgPool2d", fmt.Sprintf("def forward(self, x):\n  return torch.adaptive_avg_pool2d(x, %s)\n", ints(m.OutputSize)), nil
	case Flatten:
		return "Flatten", fmt.Sprintf("def forward(self, x):\n  return torch.flatten(x, %d, %d)\n", m.Start, m.End), nil
	case *Sequential:
		var b strings.Builder
		b.WriteString("def forward(self, x):\n")
		for _, c := range m.Children() {
			fmt.Fprintf(&b, "  x = %s(x)\n", ChildRef(c.Name))
		}
		b.WriteString("  return x\n")
		return "Sequential", b.String(), nil
	case Scripter:
		class, src := m.TorchScript()
		return class, src, nil
	}
	return "", "", fmt.Errorf("module %T cannot be exported to TorchScript", m)
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
