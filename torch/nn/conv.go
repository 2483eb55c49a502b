package nn

import (
	"fmt"

	"gotrain/torch"
)

// Conv2dConfig are the arguments of torch.nn.Conv2d. Zero Stride and
// Dilation mean 1, zero Groups means 1; NoBias drops the bias (bias=False).
type Conv2dConfig struct {
	InChannels, OutChannels int64
	KernelSize              [2]int64
	Stride, Padding         [2]int64
	Dilation                [2]int64
	Groups                  int64
	NoBias                  bool
}

// Conv2d is torch.nn.Conv2d: weight (out, in/groups, kH, kW) and bias (out).
type Conv2d struct {
	Config Conv2dConfig
	Weight *torch.Tensor
	Bias   *torch.Tensor // nil without bias
}

// NewConv2d makes a Conv2d with PyTorch's default initialisation, drawn
// from libtorch's generator in PyTorch's order (weight, then bias).
func NewConv2d(c Conv2dConfig) (*Conv2d, error) {
	o := c.options().WithDefaults()
	c.Stride, c.Dilation, c.Groups = o.Stride, o.Dilation, o.Groups
	for _, v := range []struct {
		what string
		v    int64
	}{{"in_channels", c.InChannels}, {"out_channels", c.OutChannels}, {"kernel height", c.KernelSize[0]}, {"kernel width", c.KernelSize[1]}, {"stride", c.Stride[0]}, {"stride", c.Stride[1]}, {"dilation", c.Dilation[0]}, {"dilation", c.Dilation[1]}} {
		if err := positive("Conv2d "+v.what, v.v); err != nil {
			return nil, err
		}
	}
	if c.InChannels%c.Groups != 0 || c.OutChannels%c.Groups != 0 {
		return nil, fmt.Errorf("nn: Conv2d channels %d -> %d not divisible by groups %d", c.InChannels, c.OutChannels, c.Groups)
	}
	if c.Padding[0] < 0 || c.Padding[1] < 0 {
		return nil, fmt.Errorf("nn: Conv2d padding %v is negative", c.Padding)
	}
	fanIn := c.InChannels / c.Groups * c.KernelSize[0] * c.KernelSize[1]
	bound := kaimingBound(fanIn)
	w, err := newParam([]int64{c.OutChannels, c.InChannels / c.Groups, c.KernelSize[0], c.KernelSize[1]}, uniform(bound))
	if err != nil {
		return nil, fmt.Errorf("nn: Conv2d weight: %w", err)
	}
	m := &Conv2d{Config: c, Weight: w}
	if !c.NoBias {
		if m.Bias, err = newParam([]int64{c.OutChannels}, uniform(bound)); err != nil {
			freeAll(w)
			return nil, fmt.Errorf("nn: Conv2d bias: %w", err)
		}
	}
	return m, nil
}

// Forward convolves x (N, in, H, W).
func (m *Conv2d) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return torch.Conv2d(x, m.Weight, m.Bias, m.Config.options())
}

// options returns the functional convolution's arguments.
func (c Conv2dConfig) options() torch.Conv2dOptions {
	return torch.Conv2dOptions{Stride: c.Stride, Padding: c.Padding, Dilation: c.Dilation, Groups: c.Groups}
}

// Parameters returns weight and bias.
func (m *Conv2d) Parameters() []NamedTensor {
	ps := []NamedTensor{{Name: "weight", Tensor: m.Weight}}
	if m.Bias != nil {
		ps = append(ps, NamedTensor{Name: "bias", Tensor: m.Bias})
	}
	return ps
}

// Buffers returns nothing: Conv2d has no buffers.
func (m *Conv2d) Buffers() []NamedTensor { return nil }

// OutputSize returns the spatial output size for an input of h x w.
func (m *Conv2d) OutputSize(h, w int64) (int64, int64) {
	c := m.Config
	out := func(in int64, i int) int64 {
		return (in+2*c.Padding[i]-c.Dilation[i]*(c.KernelSize[i]-1)-1)/c.Stride[i] + 1
	}
	return out(h, 0), out(w, 1)
}

// TorchScript gives forward for export (see Script).
func (m *Conv2d) TorchScript() (class, source string) {
	c := m.Config
	return "Conv2d", fmt.Sprintf("def forward(self, x):\n  return torch.conv2d(x, self.weight, %s, %s, %s, %s, %d)\n",
		scriptBias(m.Bias), scriptInts(c.Stride), scriptInts(c.Padding), scriptInts(c.Dilation), c.Groups)
}
