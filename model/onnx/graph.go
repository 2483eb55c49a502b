package onnx

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// graph is the ONNX graph being built: nodes in topological order (the
// order the walk emits them) and the initializers they read.
type graph struct {
	nodes []*node
	inits []*initializer
	names map[string]bool // every value name given out
}

// node is a NodeProto.
type node struct {
	name, op        string
	inputs, outputs []string
	attrs           []attr
}

// attr is an AttributeProto of one of the kinds the graph uses.
type attr struct {
	name string
	kind int // attrTypeFloat, attrTypeInt or attrTypeInts
	f    float32
	i    int64
	ints []int64
}

func intAttr(name string, v int64) attr     { return attr{name: name, kind: attrTypeInt, i: v} }
func floatAttr(name string, v float32) attr { return attr{name: name, kind: attrTypeFloat, f: v} }
func intsAttr(name string, v ...int64) attr { return attr{name: name, kind: attrTypeInts, ints: v} }

// initializer is a float32 TensorProto of the graph's initializer list.
type initializer struct {
	name string
	dims []int64
	data []float32
}

// value is a tensor flowing between nodes: its name and its shape, whose
// first dimension, the batch, is -1 (dynamic).
type value struct {
	name  string
	shape []int64
}

func (v value) String() string {
	dims := make([]string, len(v.shape))
	for i, d := range v.shape {
		dims[i] = fmt.Sprint(d)
		if d < 0 {
			dims[i] = BatchDim
		}
	}
	return "(" + strings.Join(dims, ", ") + ")"
}

// unique returns name, or name with a suffix if it was given out before.
func (g *graph) unique(name string) string {
	n := name
	for i := 1; g.names[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	g.names[n] = true
	return n
}

// add appends a node of op reading inputs, named for the module at path,
// and returns its output with the given shape.
func (g *graph) add(op, path string, inputs []string, shape []int64, attrs ...attr) value {
	name := g.unique(path + "/" + op)
	out := value{name: name, shape: shape}
	g.nodes = append(g.nodes, &node{name: name, op: op, inputs: inputs, outputs: []string{name}, attrs: attrs})
	return out
}

// tensor adds t's values as the initializer called name (the state_dict
// key) and returns name.
func (g *graph) tensor(name string, t *torch.Tensor) (string, error) {
	data, err := float32s(t)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	g.names[name] = true
	g.inits = append(g.inits, &initializer{name: name, dims: t.Shape(), data: data})
	return name, nil
}

// float32s copies t's values to Go, from any device and floating dtype.
func float32s(t *torch.Tensor) ([]float32, error) {
	var out []float32
	err := torch.WithScope(func() error {
		return torch.NoGrad(func() error {
			c, err := t.To(torch.CPU, false)
			if err != nil {
				return err
			}
			if c, err = c.ToDType(torch.Float32); err != nil {
				return err
			}
			if c, err = c.Contiguous(); err != nil {
				return err
			}
			out, err = torch.ToSlice[float32](c)
			return err
		})
	})
	return out, err
}

// join is nn's dotted module path.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// module emits the nodes of m, found at path in the tree, applied to x,
// and returns its output: the walk of the module tree that nn.Script
// makes for TorchScript, with each module's forward in ONNX operators.
func (g *graph) module(m nn.Module, path string, x value) (value, error) {
	bad := func(format string, args ...any) (value, error) {
		return value{}, &ShapeError{Path: path, Module: m, Input: x.shape, Msg: fmt.Sprintf(format, args...)}
	}
	switch m := m.(type) {
	case *model.Net:
		for _, c := range m.Blocks {
			if _, ok := c.Module.(*nn.Linear); ok && len(x.shape) > 2 {
				x = g.flatten(join(path, c.Name), x)
			}
			y, err := g.module(c.Module, join(path, c.Name), x)
			if err != nil {
				return value{}, err
			}
			x = y
		}
		return x, nil
	case *nn.Sequential, *model.DepthwiseSeparableConv:
		for _, c := range m.(nn.Parent).Children() {
			y, err := g.module(c.Module, join(path, c.Name), x)
			if err != nil {
				return value{}, err
			}
			x = y
		}
		return x, nil
	case *model.Residual:
		y, err := g.module(m.Body, join(path, "body"), x)
		if err != nil {
			return value{}, err
		}
		if !slices.Equal(x.shape, y.shape) {
			return bad("its body gives %v for an input of %v: a residual needs the same shape", y, x)
		}
		return g.add("Add", path, []string{x.name, y.name}, x.shape), nil
	case *nn.Conv2d:
		return g.conv(m, path, x)
	case *nn.BatchNorm2d:
		if len(x.shape) != 4 || x.shape[1] != m.NumFeatures {
			return bad("BatchNorm2d(%d) needs an input of (N, %d, H, W)", m.NumFeatures, m.NumFeatures)
		}
		ins := []string{x.name}
		for _, t := range m.Parameters() {
			name, err := g.tensor(join(path, t.Name), t.Tensor)
			if err != nil {
				return value{}, err
			}
			ins = append(ins, name)
		}
		for _, t := range m.Buffers()[:2] { // running_mean, running_var
			name, err := g.tensor(join(path, t.Name), t.Tensor)
			if err != nil {
				return value{}, err
			}
			ins = append(ins, name)
		}
		// No training_mode: the inference form, with the running statistics.
		return g.add("BatchNormalization", path, ins, x.shape, floatAttr("epsilon", float32(m.Eps))), nil
	case nn.ReLU:
		return g.add("Relu", path, []string{x.name}, x.shape), nil
	case nn.GELU:
		return g.gelu(path, x), nil
	case *nn.Dropout:
		return x, nil // the identity in evaluation
	case nn.AdaptiveAvgPool2d:
		if len(x.shape) != 4 {
			return bad("AdaptiveAvgPool2d needs an input of (N, C, H, W)")
		}
		if m.OutputSize != [2]int64{1, 1} {
			return value{}, &UnsupportedError{Path: path, Module: m, Why: fmt.Sprintf("output size %v (only (1, 1), GlobalAveragePool, is exported)", m.OutputSize)}
		}
		return g.add("GlobalAveragePool", path, []string{x.name}, []int64{x.shape[0], x.shape[1], 1, 1}), nil
	case nn.Flatten:
		r := int64(len(x.shape))
		end := m.End
		if end < 0 {
			end += r
		}
		if m.Start != 1 || end != r-1 {
			return value{}, &UnsupportedError{Path: path, Module: m, Why: fmt.Sprintf("Flatten(%d, %d) of a rank-%d input (only Flatten(1, -1) is exported)", m.Start, m.End, r)}
		}
		return g.flatten(path, x), nil
	case *nn.Linear:
		if len(x.shape) != 2 || x.shape[1] != m.InFeatures {
			return bad("Linear(%d, %d) needs an input of (N, %d)", m.InFeatures, m.OutFeatures, m.InFeatures)
		}
		w, err := g.tensor(join(path, "weight"), m.Weight)
		if err != nil {
			return value{}, err
		}
		ins := []string{x.name, w}
		if m.Bias != nil {
			b, err := g.tensor(join(path, "bias"), m.Bias)
			if err != nil {
				return value{}, err
			}
			ins = append(ins, b)
		}
		return g.add("Gemm", path, ins, []int64{x.shape[0], m.OutFeatures},
			floatAttr("alpha", 1), floatAttr("beta", 1), intAttr("transB", 1)), nil
	}
	return value{}, &UnsupportedError{Path: path, Module: m}
}

// flatten emits Flatten(axis=1), as torch.flatten(x, 1).
func (g *graph) flatten(path string, x value) value {
	n := int64(1)
	for _, d := range x.shape[1:] {
		n *= d
	}
	return g.add("Flatten", path, []string{x.name}, []int64{x.shape[0], n}, intAttr("axis", 1))
}

// conv emits a Conv with PyTorch's arguments.
func (g *graph) conv(m *nn.Conv2d, path string, x value) (value, error) {
	c := m.Config
	if len(x.shape) != 4 || x.shape[1] != c.InChannels {
		return value{}, &ShapeError{Path: path, Module: m, Input: x.shape,
			Msg: fmt.Sprintf("Conv2d(%d, %d) needs an input of (N, %d, H, W)", c.InChannels, c.OutChannels, c.InChannels)}
	}
	h, w := m.OutputSize(x.shape[2], x.shape[3])
	if h < 1 || w < 1 {
		return value{}, &ShapeError{Path: path, Module: m, Input: x.shape,
			Msg: fmt.Sprintf("the kernel %v does not fit the padded input", c.KernelSize)}
	}
	groups := max(c.Groups, 1)
	wname, err := g.tensor(join(path, "weight"), m.Weight)
	if err != nil {
		return value{}, err
	}
	ins := []string{x.name, wname}
	if m.Bias != nil {
		b, err := g.tensor(join(path, "bias"), m.Bias)
		if err != nil {
			return value{}, err
		}
		ins = append(ins, b)
	}
	one := func(v int64) int64 { return max(v, 1) }
	return g.add("Conv", path, ins, []int64{x.shape[0], c.OutChannels, h, w},
		intsAttr("dilations", one(c.Dilation[0]), one(c.Dilation[1])),
		intAttr("group", groups),
		intsAttr("kernel_shape", c.KernelSize[0], c.KernelSize[1]),
		intsAttr("pads", c.Padding[0], c.Padding[1], c.Padding[0], c.Padding[1]),
		intsAttr("strides", one(c.Stride[0]), one(c.Stride[1])),
	), nil
}

// gelu emits torch.nn.GELU() (the exact form): x * 0.5 * (1 + erf(x/√2)),
// as torch.onnx.export writes it below opset 20, which has no Gelu.
func (g *graph) gelu(path string, x value) value {
	scalar := func(name string, v float32) string {
		n := g.unique(path + "/" + name)
		g.inits = append(g.inits, &initializer{name: n, data: []float32{v}})
		return n
	}
	in := []string{x.name}
	d := g.add("Div", path, append(in, scalar("sqrt2", float32(math.Sqrt2))), x.shape)
	e := g.add("Erf", path, []string{d.name}, x.shape)
	a := g.add("Add", path, []string{e.name, scalar("one", 1)}, x.shape)
	m := g.add("Mul", path, []string{x.name, a.name}, x.shape)
	return g.add("Mul", path, []string{m.name, scalar("half", 0.5)}, x.shape)
}
