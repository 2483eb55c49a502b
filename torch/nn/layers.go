package nn

import (
	"fmt"
	"strconv"
	"strings"

	"gotrain/torch"
)

// Linear is torch.nn.Linear: weight (out, in) and bias (out).
type Linear struct {
	InFeatures, OutFeatures int64
	Weight, Bias            *torch.Tensor
}

// NewLinear makes a Linear layer with PyTorch's default initialisation;
// bias false drops the bias.
func NewLinear(in, out int64, bias bool) (*Linear, error) {
	if err := positive("Linear in_features", in); err != nil {
		return nil, err
	}
	if err := positive("Linear out_features", out); err != nil {
		return nil, err
	}
	bound := kaimingBound(in)
	w, err := newParam([]int64{out, in}, uniform(bound))
	if err != nil {
		return nil, fmt.Errorf("nn: Linear weight: %w", err)
	}
	m := &Linear{InFeatures: in, OutFeatures: out, Weight: w}
	if bias {
		if m.Bias, err = newParam([]int64{out}, uniform(bound)); err != nil {
			freeAll(w)
			return nil, fmt.Errorf("nn: Linear bias: %w", err)
		}
	}
	return m, nil
}

// Forward returns x·Wᵀ + b.
func (m *Linear) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return torch.Linear(x, m.Weight, m.Bias)
}

// Parameters returns weight and bias.
func (m *Linear) Parameters() []NamedTensor {
	ps := []NamedTensor{{Name: "weight", Tensor: m.Weight}}
	if m.Bias != nil {
		ps = append(ps, NamedTensor{Name: "bias", Tensor: m.Bias})
	}
	return ps
}

// Buffers returns nothing: Linear has no buffers.
func (m *Linear) Buffers() []NamedTensor { return nil }

// TorchScript gives forward for export (see Script).
func (m *Linear) TorchScript() (class, source string) {
	return "Linear", fmt.Sprintf("def forward(self, x):\n  return torch.linear(x, self.weight, %s)\n", scriptBias(m.Bias))
}

// ReLU is torch.nn.ReLU.
type ReLU struct{}

// Forward returns max(x, 0).
func (ReLU) Forward(x *torch.Tensor) (*torch.Tensor, error) { return torch.Relu(x) }

// TorchScript gives forward for export (see Script).
func (ReLU) TorchScript() (class, source string) {
	return "ReLU", "def forward(self, x):\n  return torch.relu(x)\n"
}

// GELU is torch.nn.GELU() (approximate='none').
type GELU struct{}

// Forward returns x·Φ(x), Φ the standard normal CDF.
func (GELU) Forward(x *torch.Tensor) (*torch.Tensor, error) { return torch.Gelu(x) }

// TorchScript gives forward for export (see Script).
func (GELU) TorchScript() (class, source string) {
	return "GELU", "def forward(self, x):\n  return torch.gelu(x)\n"
}

// Dropout is torch.nn.Dropout: active only in training mode.
type Dropout struct {
	P        float64
	training bool
}

// NewDropout returns a Dropout with probability p in [0, 1), in training mode.
func NewDropout(p float64) (*Dropout, error) {
	if p < 0 || p >= 1 {
		return nil, fmt.Errorf("nn: Dropout probability %v outside [0, 1)", p)
	}
	return &Dropout{P: p, training: true}, nil
}

// Forward zeroes elements with probability P while training.
func (m *Dropout) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return torch.Dropout(x, m.P, m.training)
}

// SetTraining turns dropout on (true) or off.
func (m *Dropout) SetTraining(training bool) { m.training = training }

// TorchScript gives forward for export (see Script): dropout while
// training, the identity in evaluation.
func (m *Dropout) TorchScript() (class, source string) {
	return "Dropout", fmt.Sprintf("def forward(self, x):\n  return torch.dropout(x, %s, self.training)\n", scriptFloat(m.P))
}

// AdaptiveAvgPool2d is torch.nn.AdaptiveAvgPool2d((H, W)).
type AdaptiveAvgPool2d struct{ OutputSize [2]int64 }

// Forward averages x down to OutputSize.
func (m AdaptiveAvgPool2d) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return torch.AdaptiveAvgPool2d(x, m.OutputSize[0], m.OutputSize[1])
}

// TorchScript gives forward for export (see Script).
func (m AdaptiveAvgPool2d) TorchScript() (class, source string) {
	return "AdaptiveAvgPool2d", fmt.Sprintf("def forward(self, x):\n  return torch.adaptive_avg_pool2d(x, %s)\n", scriptInts(m.OutputSize))
}

// Flatten is torch.nn.Flatten (start 1, end -1 by default in NewFlatten).
type Flatten struct{ Start, End int64 }

// NewFlatten returns torch.nn.Flatten() with its defaults.
func NewFlatten() Flatten { return Flatten{Start: 1, End: -1} }

// Forward merges dimensions Start..End.
func (m Flatten) Forward(x *torch.Tensor) (*torch.Tensor, error) { return x.Flatten(m.Start, m.End) }

// TorchScript gives forward for export (see Script).
func (m Flatten) TorchScript() (class, source string) {
	return "Flatten", fmt.Sprintf("def forward(self, x):\n  return torch.flatten(x, %d, %d)\n", m.Start, m.End)
}

// Sequential is torch.nn.Sequential: children named "0", "1", ... run in order.
type Sequential struct{ Layers []Module }

// NewSequential returns a Sequential of the given modules.
func NewSequential(layers ...Module) *Sequential { return &Sequential{Layers: layers} }

// Forward feeds x through each layer in turn.
func (m *Sequential) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	for i, l := range m.Layers {
		y, err := Call(l, x)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%T): %w", i, l, err)
		}
		x = y
	}
	return x, nil
}

// Children returns the layers named by their index.
func (m *Sequential) Children() []Child {
	cs := make([]Child, len(m.Layers))
	for i, l := range m.Layers {
		cs[i] = Child{strconv.Itoa(i), l}
	}
	return cs
}

// TorchScript gives forward for export (see Script): each layer in turn.
func (m *Sequential) TorchScript() (class, source string) {
	var b strings.Builder
	b.WriteString("def forward(self, x):\n")
	for _, c := range m.Children() {
		fmt.Fprintf(&b, "  x = %s(x)\n", ChildRef(c.Name))
	}
	b.WriteString("  return x\n")
	return "Sequential", b.String()
}
