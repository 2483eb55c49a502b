package onnx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/internal/testdir"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// square is a module with no ONNX form.
type square struct{}

func (square) Forward(x *torch.Tensor) (*torch.Tensor, error) { return torch.Mul(x, x) }

// mustConv makes a Conv2d or fails t.
func mustConv(t *testing.T, c nn.Conv2dConfig) *nn.Conv2d {
	t.Helper()
	m, err := nn.NewConv2d(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustLinear(t *testing.T, in, out int64) *nn.Linear {
	t.Helper()
	m, err := nn.NewLinear(in, out, true)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyNet is conv(3→8) → mid → GAP → fc(width→10), blocks c1, gap and fc.
func tinyNet(t *testing.T, mid nn.Module, width int64) *model.Net {
	t.Helper()
	conv := mustConv(t, nn.Conv2dConfig{InChannels: 3, OutChannels: 8, KernelSize: [2]int64{3, 3}, Padding: [2]int64{1, 1}})
	return &model.Net{Name: "tiny", Blocks: []nn.Child{
		{Name: "c1", Module: nn.NewSequential(conv, mid)},
		{Name: "gap", Module: nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}},
		{Name: "fc", Module: mustLinear(t, width, 10)},
	}}
}

// TestUnexportableNetworks gives Save networks it cannot write: each must
// fail with an error naming the module's path and what is wrong, leave no
// file (and no temporary file) behind, and leave an existing file as it
// was.
func TestUnexportableNetworks(t *testing.T) {
	cases := []struct {
		name  string
		net   func(t *testing.T) nn.Module
		o     Options
		typed any // *UnsupportedError or *ShapeError
		want  []string
	}{
		{"unsupported module", func(t *testing.T) nn.Module { return tinyNet(t, square{}, 8) }, Options{},
			&UnsupportedError{}, []string{"c1.1", "onnx.square", "has no ONNX form", "supported: Conv2d"}},
		{"pooling to 2x2", func(t *testing.T) nn.Module {
			n := tinyNet(t, nn.ReLU{}, 8)
			n.Blocks[1].Module = nn.AdaptiveAvgPool2d{OutputSize: [2]int64{2, 2}}
			return n
		}, Options{}, &UnsupportedError{}, []string{"gap", "AdaptiveAvgPool2d", "[2 2]"}},
		{"flatten from 2", func(t *testing.T) nn.Module { return tinyNet(t, nn.Flatten{Start: 2, End: -1}, 8) }, Options{},
			&UnsupportedError{}, []string{"c1.1", "Flatten(2, -1)"}},
		{"channels mismatch", func(t *testing.T) nn.Module {
			c := mustConv(t, nn.Conv2dConfig{InChannels: 16, OutChannels: 8, KernelSize: [2]int64{1, 1}})
			return tinyNet(t, c, 8)
		}, Options{}, &ShapeError{}, []string{"c1.1", "Conv2d(16, 8) needs an input of (N, 16, H, W)", "gets (batch, 8, 32, 32)"}},
		{"linear width", func(t *testing.T) nn.Module { return tinyNet(t, nn.ReLU{}, 12) }, Options{},
			&ShapeError{}, []string{"fc", "Linear(12, 10)", "gets (batch, 8)"}},
		{"batch norm width", func(t *testing.T) nn.Module {
			bn, err := nn.NewBatchNorm2d(4)
			if err != nil {
				t.Fatal(err)
			}
			return tinyNet(t, bn, 8)
		}, Options{}, &ShapeError{}, []string{"c1.1", "BatchNorm2d(4)"}},
		{"residual shape", func(t *testing.T) nn.Module {
			c := mustConv(t, nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: [2]int64{3, 3}})
			return tinyNet(t, &model.Residual{Body: c}, 8)
		}, Options{}, &ShapeError{}, []string{"c1.1", "(batch, 8, 30, 30)", "same shape"}},
		{"kernel too large", func(t *testing.T) nn.Module {
			c := mustConv(t, nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: [2]int64{5, 5}, Stride: [2]int64{1, 1}})
			return tinyNet(t, c, 8)
		}, Options{ImageSize: 2}, &ShapeError{}, []string{"c1.1", "kernel"}},
		{"class count", func(t *testing.T) nn.Module { return tinyNet(t, nn.ReLU{}, 8) }, Options{Classes: []string{"a", "b"}},
			&ShapeError{}, []string{"the network", "(batch, 10)", "(batch, 2) logits for the 2 classes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := c.net(t)
			defer nn.Free(net)
			if c.o.Classes == nil {
				c.o.Classes = classes
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "model.onnx")
			err := Save(path, net, c.o)
			if err == nil {
				t.Fatal("Save succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var u *UnsupportedError
			var s *ShapeError
			switch c.typed.(type) {
			case *UnsupportedError:
				if !errors.As(err, &u) {
					t.Errorf("error %T, want *UnsupportedError", err)
				}
			case *ShapeError:
				if !errors.As(err, &s) {
					t.Errorf("error %T, want *ShapeError", err)
				}
			}
			testdir.AssertOnly(t, dir)
			// An existing file stays as it was.
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if Save(path, net, c.o) == nil {
				t.Fatal("second Save succeeded")
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("existing file now holds %q", b)
			}
			var w bytes.Buffer
			if Write(&w, net, c.o) == nil || w.Len() != 0 {
				t.Errorf("Write wrote %d bytes", w.Len())
			}
		})
	}
}

// TestBadOptions checks the options Marshal refuses.
func TestBadOptions(t *testing.T) {
	net := tinyNet(t, nn.ReLU{}, 8)
	defer nn.Free(net)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "no class names"},
		{Options{Classes: classes, Mean: []float64{0.5}}, "normalisation of 1 means and 0 standard deviations for 3 channels"},
		{Options{Classes: classes, ImageSize: -1}, "input of 3 channels of -1×-1"},
	} {
		if _, err := Marshal(net, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
}
