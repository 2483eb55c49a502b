// Package model defines the CIFAR-10 networks by name, and derives from any
// network its torchinfo-style summary, receptive field and the seed
// project's architecture rules.
package model

import (
	"fmt"
	"sort"
	"strings"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// Net is a CIFAR-10 classifier: named blocks run in order, each a module
// tree with PyTorch's names, so state_dict keys read "c1.0.weight".
type Net struct {
	Name   string
	Blocks []nn.Child
}

// Forward maps images (N, 3, 32, 32) to logits (N, 10): the blocks in
// order, flattening before the final Linear layer as the seed's forward does.
func (n *Net) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	for _, b := range n.Blocks {
		if _, ok := b.Module.(*nn.Linear); ok && x.Dim() > 2 {
			flat, err := x.Flatten(1, -1)
			if err != nil {
				return nil, err
			}
			x = flat
		}
		y, err := nn.Call(b.Module, x)
		if err != nil {
			return nil, fmt.Errorf("model %s: block %s: %w", n.Name, b.Name, err)
		}
		x = y
	}
	return x, nil
}

// Children returns the blocks.
func (n *Net) Children() []nn.Child { return n.Blocks }

// Options configure a network at construction.
type Options struct {
	// Dropout is the probability of the dropout before the classifier
	// (the seed uses 0.05).
	Dropout float64
}

// Spec describes a network that New can build.
type Spec struct {
	Name        string
	Description string
	build       func(Options) (*Net, error)
}

var registry = map[string]Spec{}

func register(s Spec) { registry[s.Name] = s }

// Default is the name of the network New builds when none is given: one
// that meets every rule of the seed project.
const Default = "sepnet"

// Names returns the names of the registered networks, sorted.
func Names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Describe returns the one-line description of a network.
func Describe(name string) string { return registry[name].Description }

// New builds the named network with fresh weights drawn from libtorch's
// generator (seed it with torch.ManualSeed for reproducible weights).
func New(name string, o Options) (*Net, error) {
	s, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("model: unknown network %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if o.Dropout < 0 || o.Dropout >= 1 {
		return nil, fmt.Errorf("model: dropout %v outside [0, 1)", o.Dropout)
	}
	return s.build(o)
}

// TorchScript gives forward for export: the blocks in order, flattening
// before the classifier as Forward does.
func (n *Net) TorchScript() (class, source string) {
	var b strings.Builder
	b.WriteString("def forward(self, x):\n")
	for _, c := range n.Blocks {
		if _, ok := c.Module.(*nn.Linear); ok {
			b.WriteString("  x = torch.flatten(x, 1)\n")
		}
		fmt.Fprintf(&b, "  x = %s(x)\n", nn.ChildRef(c.Name))
	}
	b.WriteString("  return x\n")
	return "Net", b.String()
}
