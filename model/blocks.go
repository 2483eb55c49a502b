package model

import (
	"fmt"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// DepthwiseSeparableConv is a depthwise 3x3 convolution (one filter per
// input channel) followed by a pointwise 1x1 convolution, with PyTorch
// children named "depthwise" and "pointwise".
type DepthwiseSeparableConv struct {
	Depthwise, Pointwise *nn.Conv2d
}

// SepConfig describes a depthwise-separable convolution.
type SepConfig struct {
	In, Out          int64
	Kernel           int64 // default 3
	Stride, Dilation int64 // default 1
	Padding          int64 // default dilation*(kernel-1)/2 ("same" at stride 1)
	ExplicitPadding  bool  // use Padding even when it is 0
}

// NewDepthwiseSeparableConv makes the two convolutions, both with bias.
func NewDepthwiseSeparableConv(c SepConfig) (*DepthwiseSeparableConv, error) {
	if c.Kernel == 0 {
		c.Kernel = 3
	}
	if c.Stride == 0 {
		c.Stride = 1
	}
	if c.Dilation == 0 {
		c.Dilation = 1
	}
	if !c.ExplicitPadding && c.Padding == 0 {
		c.Padding = c.Dilation * (c.Kernel - 1) / 2
	}
	dw, err := nn.NewConv2d(nn.Conv2dConfig{
		InChannels: c.In, OutChannels: c.In, KernelSize: [2]int64{c.Kernel, c.Kernel},
		Stride: [2]int64{c.Stride, c.Stride}, Padding: [2]int64{c.Padding, c.Padding},
		Dilation: [2]int64{c.Dilation, c.Dilation}, Groups: c.In,
	})
	if err != nil {
		return nil, fmt.Errorf("depthwise: %w", err)
	}
	pw, err := nn.NewConv2d(nn.Conv2dConfig{InChannels: c.In, OutChannels: c.Out, KernelSize: [2]int64{1, 1}})
	if err != nil {
		nn.Free(dw)
		return nil, fmt.Errorf("pointwise: %w", err)
	}
	return &DepthwiseSeparableConv{Depthwise: dw, Pointwise: pw}, nil
}

// Forward applies the depthwise then the pointwise convolution.
func (m *DepthwiseSeparableConv) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	y, err := nn.Call(m.Depthwise, x)
	if err != nil {
		return nil, err
	}
	return nn.Call(m.Pointwise, y)
}

// Children returns depthwise and pointwise.
func (m *DepthwiseSeparableConv) Children() []nn.Child {
	return []nn.Child{{Name: "depthwise", Module: m.Depthwise}, {Name: "pointwise", Module: m.Pointwise}}
}

// Residual is a residual connection around Body: x + Body(x), for a body
// whose output has its input's shape. Its child is named "body". The
// identity branch has no layers, so the receptive field is the body's.
type Residual struct {
	Body nn.Module
}

// Forward returns x + Body(x).
func (m *Residual) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	y, err := nn.Call(m.Body, x)
	if err != nil {
		return nil, err
	}
	return torch.Add(x, y)
}

// Children returns the body.
func (m *Residual) Children() []nn.Child { return []nn.Child{{Name: "body", Module: m.Body}} }

// TorchScript gives forward for export.
func (m *Residual) TorchScript() (class, source string) {
	return "Residual", "def forward(self, x):\n  return x + self.body.forward(x)\n"
}

// builder makes modules in order and remembers the first error, so that a
// network definition reads like its PyTorch counterpart.
type builder struct {
	err  error
	made []nn.Module
}

func (b *builder) keep(m nn.Module, err error) nn.Module {
	if b.err != nil {
		return nil
	}
	if err != nil {
		b.err = err
		return nil
	}
	b.made = append(b.made, m)
	return m
}

// conv is Conv2d(in, out, k, stride, padding, dilation) with bias.
func (b *builder) conv(in, out, k, stride, padding, dilation int64) nn.Module {
	if b.err != nil {
		return nil
	}
	m, err := nn.NewConv2d(nn.Conv2dConfig{
		InChannels: in, OutChannels: out, KernelSize: [2]int64{k, k},
		Stride: [2]int64{stride, stride}, Padding: [2]int64{padding, padding}, Dilation: [2]int64{dilation, dilation},
	})
	return b.keep(m, err)
}

func (b *builder) bn(n int64) nn.Module {
	if b.err != nil {
		return nil
	}
	m, err := nn.NewBatchNorm2d(n)
	return b.keep(m, err)
}

func (b *builder) sep(c SepConfig) nn.Module {
	if b.err != nil {
		return nil
	}
	m, err := NewDepthwiseSeparableConv(c)
	return b.keep(m, err)
}

func (b *builder) dropout(p float64) nn.Module {
	if b.err != nil {
		return nil
	}
	m, err := nn.NewDropout(p)
	return b.keep(m, err)
}

// residual wraps layers in a Residual around their Sequential.
func (b *builder) residual(layers ...nn.Module) nn.Module {
	return &Residual{Body: nn.NewSequential(layers...)}
}

// net finishes a network of four convolution blocks whose last has width
// channels: global average pooling with dropout ("gap") and the Linear
// classifier ("fc"), the blocks named c1..c4. After an error it frees
// what was made.
func (b *builder) net(name string, o Options, width int64, c1, c2, c3, c4 nn.Module) (*Net, error) {
	gap := nn.NewSequential(nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}, b.dropout(o.Dropout))
	fc, err := nn.NewLinear(width, 10, true)
	b.keep(fc, err)
	if b.err != nil {
		return nil, b.fail()
	}
	return &Net{Name: name, Blocks: []nn.Child{
		{Name: "c1", Module: c1}, {Name: "c2", Module: c2}, {Name: "c3", Module: c3},
		{Name: "c4", Module: c4}, {Name: "gap", Module: gap}, {Name: "fc", Module: fc},
	}}, nil
}

// fail frees what was made after an error.
func (b *builder) fail() error {
	for _, m := range b.made {
		nn.Free(m)
	}
	return b.err
}

// TorchScript gives forward for export.
func (m *DepthwiseSeparableConv) TorchScript() (class, source string) {
	return "DepthwiseSeparableConv", "def forward(self, x):\n  return self.pointwise.forward(self.depthwise.forward(x))\n"
}
