package model

import (
	"fmt"
	"strconv"

	"gotrain/torch/nn"
)

// Field is a receptive field: how many input pixels, per axis, one output
// position of a layer sees.
type Field struct {
	// Size is the receptive field (height, width) in input pixels, counting
	// every convolution and sliding-window pooling but not global pooling.
	Size [2]int64 `json:"size"`
	// Jump is the distance (height, width) in input pixels between
	// neighbouring output positions: the product of the strides so far.
	Jump [2]int64 `json:"jump"`
	// Global is true once a global average pooling has run: from there on
	// every output sees the whole image, which Size leaves out.
	Global bool `json:"global"`
}

// Max returns the larger of the field's height and width, the single number
// usually quoted for square kernels.
func (f Field) Max() int64 { return max(f.Size[0], f.Size[1]) }

// String returns the size, "25" when square and "7x5" (height x width)
// otherwise.
func (f Field) String() string {
	if f.Size[0] == f.Size[1] {
		return strconv.FormatInt(f.Size[0], 10)
	}
	return fmt.Sprintf("%dx%d", f.Size[0], f.Size[1])
}

// startField is the field of the input itself: one pixel.
var startField = Field{Size: [2]int64{1, 1}, Jump: [2]int64{1, 1}}

// Window is the sliding window of a layer, per axis (height, width). Zero
// Stride and Dilation mean 1.
type Window struct {
	Kernel, Stride, Dilation [2]int64
}

// Windowed is implemented by layers that slide a window over their input
// without child modules doing it, such as a max- or average-pooling layer,
// so that ReceptiveField and Summarize can account for them. Conv2d and
// AdaptiveAvgPool2d need not implement it.
type Windowed interface {
	Window() Window
}

// grow returns f after a layer with window w: per axis, the field grows by
// (k_eff - 1) * jump with k_eff = dilation*(k-1) + 1, then jump *= stride.
func (f Field) grow(w Window) Field {
	for i := range 2 {
		s, d := max(w.Stride[i], 1), max(w.Dilation[i], 1)
		kEff := d*(w.Kernel[i]-1) + 1
		f.Size[i] += (kEff - 1) * f.Jump[i]
		f.Jump[i] *= s
	}
	return f
}

// windowOf returns the window of a layer that changes the receptive field,
// global true for global average pooling, and ok false for any other layer.
// in and out are the shapes the layer was called with and returned; they
// size adaptive pooling.
func windowOf(m nn.Module, in, out []int64) (w Window, global, ok bool, err error) {
	switch l := m.(type) {
	case *nn.Conv2d:
		c := l.Config
		return Window{Kernel: c.KernelSize, Stride: c.Stride, Dilation: c.Dilation}, false, true, nil
	case Windowed:
		return l.Window(), false, true, nil
	case nn.AdaptiveAvgPool2d:
		return adaptiveWindow(l.OutputSize, in, out)
	case *nn.AdaptiveAvgPool2d:
		return adaptiveWindow(l.OutputSize, in, out)
	}
	return Window{}, false, false, nil
}

// adaptiveWindow is the window of adaptive pooling to size: global for 1x1;
// otherwise, when the input divides evenly, kernel and stride in/out per
// axis (a window that is not uniform has no single receptive field).
func adaptiveWindow(size [2]int64, in, out []int64) (w Window, global, ok bool, err error) {
	if size == [2]int64{1, 1} {
		return Window{}, true, true, nil
	}
	if len(in) != 4 || len(out) != 4 {
		return Window{}, false, false, fmt.Errorf("adaptive pooling from %v to %v: want (N, C, H, W) shapes", in, out)
	}
	for i := range 2 {
		if out[2+i] == 0 || in[2+i]%out[2+i] != 0 {
			return Window{}, false, false, fmt.Errorf("adaptive pooling from %v to %v: windows are not uniform, so there is no single receptive field", in, out)
		}
		w.Kernel[i] = in[2+i] / out[2+i]
		w.Stride[i] = w.Kernel[i]
	}
	return w, false, true, nil
}

// ReceptiveField traces one forward pass of m on zeros of the given
// (N, C, H, W) input shape ((1, 3, 32, 32), one CIFAR-10 image, when
// omitted) and returns the receptive field of its output, computed from the
// layers in the order they ran: every Conv2d and Windowed layer, and
// AdaptiveAvgPool2d to a size that divides its input. Global average
// pooling is not counted in Size; it sets Global. Kernels need not be
// square: the field is kept per axis (Field.Max gives the larger).
//
// The layers are assumed to form a chain, each feeding the next, as in
// every network of this package. In a network with branches (residual
// additions, concatenations) the result adds up every branch and so is an
// upper bound. Only layers that run through nn.Call (children of
// Sequential, DepthwiseSeparableConv, Net) are seen; a layer type whose
// name says it pools but that ReceptiveField cannot size is an error.
//
// The trace runs as Summarize's does: in evaluation mode, leaving m in
// training mode afterwards.
func ReceptiveField(m nn.Module, input ...int64) (Field, error) {
	if len(input) == 0 {
		input = cifarInput
	}
	t, err := trace(m, input)
	if err != nil {
		return Field{}, err
	}
	return t.Field, nil
}
